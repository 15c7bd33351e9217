"""Plain data and rules, no run-directory I/O: oprefs, flags, statuses, exit codes, errors."""
