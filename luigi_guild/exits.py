"""The one place where errors and outcomes become the ``guild`` command's messages and exit codes.

Both entry points (the click-free listing fast path in :mod:`luigi_guild.entry`
and the click CLI in :mod:`luigi_guild.cli`) run their work through
:func:`run_main`, so an error exits the same way whichever path ran it.
"""

from __future__ import annotations

import os
import sys

from luigi_guild.model import exitcodes
from luigi_guild.model.errors import GuildError

TYPE_CHECKING = False  # typing costs ~10 ms to import: annotations only
if TYPE_CHECKING:
    from typing import Callable, NoReturn


def run_main(
    body: Callable[[], object],
    translate: Callable[[BaseException], int | None] | None = None,
    quick_exit: bool = False,
) -> NoReturn:
    """Run ``body`` and exit: its int result (else 0), or the code for what it raised.

    ``translate`` maps a framework's own exceptions (click's) to an exit
    code after printing what they say; it returns None for others. With
    ``quick_exit``, a body that succeeds ends the process as soon as its
    output is flushed and the exit handlers have run, without the
    interpreter freeing every object first (a command that built a table
    of 10,000 runs spends tens of milliseconds on that).
    """
    try:
        rc = body()
        sys.stdout.flush()
        if quick_exit:
            import atexit

            atexit._run_exitfuncs()
            sys.stdout.flush()
            sys.stderr.flush()
    except SystemExit:
        raise
    except BaseException as e:  # every way out is decided below
        code = translate(e) if translate is not None else None
        sys.exit(code if code is not None else exit_code_for(e))
    code = rc if isinstance(rc, int) and not isinstance(rc, bool) else exitcodes.OK
    if quick_exit:
        os._exit(code)
    sys.exit(code)


def exit_code_for(e: BaseException) -> int:
    """Print what ``e`` means for the user (one line, no traceback) and return the exit code."""
    if isinstance(e, GuildError):
        text = getattr(e, "text", None)
        if text is not None:
            sys.stderr.write(text + "\n")
            sys.stderr.flush()
        else:
            print_error(e.message, e.hint)
        return e.exit_code
    if isinstance(e, KeyboardInterrupt):
        return exitcodes.INTERRUPTED
    if isinstance(e, BrokenPipeError):
        # Nothing more can reach the reader; keep the interpreter from failing on exit.
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return exitcodes.OK
    if isinstance(e, OSError):
        # A file system failure the core did not expect (disk full, read-only home).
        print_error(_describe_os_error(e), None)
        return exitcodes.ERROR
    raise e


def print_error(message: str, hint: str | None) -> None:
    """``guild: MESSAGE`` on stderr, then the hint's lines."""
    sys.stderr.write("guild: %s\n" % message)
    if hint:
        sys.stderr.write(hint.rstrip("\n") + "\n")
    sys.stderr.flush()


def _describe_os_error(e: OSError) -> str:
    what = e.strerror or str(e) or type(e).__name__
    if e.filename:
        return "%s: %s" % (what, e.filename)
    return what
