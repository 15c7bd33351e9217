"""Exit codes of the ``guild`` command and how a run's exit status becomes one.

:mod:`luigi_guild.exits` is the one place that turns errors and outcomes
into these codes, for the click CLI and the click-free fast path alike.
"""

from __future__ import annotations

OK = 0
# A user-facing error (``guild: ...``): the default of GuildError.
ERROR = 1
# A command-line usage error (click's code).
USAGE = 2
# A prompt aborted (click's ``Aborted!``).
ABORTED = 4
# Interrupted by Ctrl-C (128 + SIGINT).
INTERRUPTED = 130


def for_exit_status(status: int) -> int:
    """The exit code ``guild run`` returns for a run's exit status (negative: killed by that signal)."""
    return status if status >= 0 else 128 - status


def for_signal(signum: int) -> int:
    """The exit code for a command stopped by signal ``signum``: 128 + signum."""
    return 128 + signum
