"""Run directories, the run index and the one run-query API."""
