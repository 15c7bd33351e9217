"""``guild shell``: an interactive Python shell with this package's API at hand."""

from __future__ import annotations

import click


@click.command("shell")
def shell() -> None:
    """Start a Python shell for API use (a developer feature).

    The shell reads from standard input (so it can be fed a script) and
    starts with `luigi_guild`, `query` (the run-query API:
    `query.filtered_runs()`, `query.select(...)`) and `Run` already
    imported, and the Guild home that `-H` or `GUILD_HOME` chose in effect.
    The banner and tracebacks go to standard error; prompts are shown only
    when input is a terminal. End of input ends the shell.
    """
    import code
    import sys

    import luigi_guild
    from luigi_guild.model import home
    from luigi_guild.store import query
    from luigi_guild.store.rundir import Run

    namespace = {"__name__": "__console__", "luigi_guild": luigi_guild, "query": query, "Run": Run}
    banner = "Python %s on %s\nluigi-guild %s (Guild home %s): luigi_guild, query and Run are imported." % (
        sys.version.split()[0], sys.platform, luigi_guild.__version__, home.guild_home()
    )
    try:
        import readline  # noqa: F401  (line editing and history when there is a terminal)
    except ImportError:  # pragma: no cover - not on every platform
        pass
    if not sys.stdin.isatty():  # fed a script: no prompts in its output
        sys.ps1 = sys.ps2 = ""
    code.interact(banner=banner, local=namespace, exitmsg="")
