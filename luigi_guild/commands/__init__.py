"""Click commands of the ``guild`` CLI, one module per command, loaded lazily."""
