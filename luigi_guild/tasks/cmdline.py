"""Bad task parameters on Luigi's command line: one ``guild: ...`` line naming the parameter, no traceback."""

from __future__ import annotations

import logging
from typing import Any, Callable

import luigi

from luigi_guild.model.errors import GuildError

# What ``luigi.retcodes.run_with_retcodes`` logs (with the traceback) for an exception it did not expect.
UNCAUGHT = "Uncaught exception in luigi"


class TaskValueError(GuildError, ValueError):
    """A value a task parameter does not accept (a ``ValueError`` too, as Luigi's own parsers raise)."""


class TaskParameterError(GuildError, luigi.parameter.ParameterException):
    """A parameter missing or unknown when an operation task is built (still Luigi's ``ParameterException``)."""


class NamedParse:
    """A parameter's ``parse`` whose failures name the parameter, as ``guild run`` names a flag."""

    def __init__(self, parse: Callable[[Any], Any], name: str):
        self.parse = parse
        self.name = name

    def __call__(self, x: Any) -> Any:
        try:
            return self.parse(x)
        except GuildError:
            raise  # flag parameters already say which flag and why
        except (ValueError, TypeError) as e:
            raise TaskValueError("invalid value %s for %s: %s" % (x, self.name, e)) from None


def name_parse_errors(params: Any) -> None:
    """Make each ``(name, parameter)``'s text parsing fail with one line naming it (done once per parameter)."""
    for name, param in params:
        if not isinstance(param.__dict__.get("parse"), NamedParse):
            param.parse = NamedParse(param.parse, name)


class OneLineErrors(logging.Filter):
    """Turns Luigi's report of an uncaught ``GuildError`` into ``guild: MESSAGE`` on stderr.

    ``luigi --module m Train --lr abc`` builds the task inside Luigi's
    ``run_with_retcodes``, which logs any exception with its traceback and
    exits with ``[retcode] unhandled_exception`` (4 unless configured). For
    errors of ours the user gets the line ``guild run`` prints instead; the
    exit code stays Luigi's.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, GuildError) and record.msg == UNCAUGHT:
            from luigi_guild import exits

            exits.exit_code_for(exc)
            return False
        return True


def install() -> None:
    """Add :class:`OneLineErrors` to Luigi's interface logger (once)."""
    logger = logging.getLogger("luigi-interface")
    if not any(isinstance(f, OneLineErrors) for f in logger.filters):
        logger.addFilter(OneLineErrors())
