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


class ReportedError(GuildError):
    """An error whose whole report is ``text`` (printed as is, without ``guild: ``)."""

    def __init__(self, message: str, text: str, exit_code: int = 1):
        super().__init__(message, exit_code)
        self.text = text


class MissingFlagsError(ReportedError):
    """Required flags without values: Guild lists them all, with their descriptions."""

    def __init__(self, missing: list[tuple[str, str]]):
        from luigi_guild.model.table import format_table

        rows = [[name, desc.split("\n")[0]] for name, desc in missing]
        text = "\n".join(
            ["Operation requires the following missing flags:", ""]
            + format_table(rows, "  ")
            + ["", "Run the command again with these flags specified as NAME=VAL."]
        )
        names = ", ".join("'%s'" % name for name, _ in missing)
        super().__init__("missing required flag%s %s" % ("s" if len(missing) > 1 else "", names), text)
        self.missing = missing
