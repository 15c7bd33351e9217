"""Errors the CLI turns into ``guild: ...`` messages and exit codes."""

from __future__ import annotations


class GuildError(Exception):
    """A user-facing error: ``message`` is printed after ``guild: `` on stderr.

    ``hint`` lines, when given, follow the message on their own lines.
    """

    def __init__(self, message: str, exit_code: int = 1, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
        self.hint = hint


class RunNotFound(GuildError):
    """No run matches a run specification."""


class RunningRunError(GuildError):
    """An action that needs a stopped run was given a running one."""
