"""The ``guild`` command line: a click group whose subcommands load lazily.

Each subcommand lives in ``luigi_guild/commands/<module>.py`` and is imported
only when invoked, so ``guild runs`` never pays for Luigi or Fabric imports.
The CLI parses and formats; behaviour is decided by the core modules.
"""

from __future__ import annotations

import importlib
import sys

import click

from luigi_guild import __version__

# command name -> (module under luigi_guild.commands, attribute)
COMMANDS: dict[str, tuple[str, str]] = {
    "api": ("api", "api"),
    "cat": ("cat", "cat"),
    "check": ("check", "check"),
    "comment": ("comment", "comment"),
    "compare": ("compare", "compare"),
    "completion": ("completion", "completion"),
    "diff": ("diff", "diff"),
    "download": ("download", "download"),
    "export": ("export", "export"),
    "help": ("help", "help_"),
    "import": ("export", "import_"),
    "init": ("init", "init"),
    "install": ("packages", "install"),
    "mark": ("mark", "mark"),
    "merge": ("merge", "merge"),
    "models": ("models", "models"),
    "label": ("label", "label"),
    "ls": ("ls", "ls"),
    "publish": ("publish", "publish"),
    "pull": ("pull", "pull"),
    "push": ("push", "push"),
    "remote": ("remote", "remote"),
    "remotes": ("remotes", "remotes"),
    "open": ("open_", "open_"),
    "operations": ("operations", "operations"),
    "package": ("package", "package"),
    "packages": ("packages", "packages"),
    "ops": ("operations", "operations"),
    "run": ("run", "run"),
    "runs": ("runs", "runs"),
    "search": ("packages", "search"),
    "select": ("select", "select"),
    "shell": ("shell", "shell"),
    "stop": ("stop", "stop"),
    "sync": ("sync", "sync"),
    "sys": ("sys", "sys_"),
    "tag": ("tag", "tag"),
    "tensorboard": ("tensorboard", "tensorboard"),
    "tensorflow": ("tensorflow", "tensorflow"),
    "uninstall": ("packages", "uninstall"),
    "view": ("view", "view"),
    "watch": ("watch", "watch"),
}


class LazyGroup(click.Group):
    """A click group that imports a subcommand's module on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        spec = COMMANDS.get(name)
        if spec is None:
            return None
        module = importlib.import_module("luigi_guild.commands." + spec[0])
        return getattr(module, spec[1])


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="luigi-guild")
@click.option("-C", "cwd", metavar="PATH", help="Use PATH as current directory for the command.")
@click.option("-H", "guild_home", metavar="PATH", help="Use PATH as Guild home (default $GUILD_HOME or ~/.guild).")
@click.option("--debug", is_flag=True, help="Log more information (DEBUG level on stderr; runs get LOG_LEVEL=10).")
@click.option("-D", "--debug-listen", metavar="[HOST:]PORT", hidden=True,
              help="Wait for a debugger (debugpy) on [HOST:]PORT (host 127.0.0.1 unless given) before the command.")
def cli(guild_home: str | None, cwd: str | None = None, debug: bool = False, debug_listen: str | None = None) -> None:
    """Record, compare and rerun ML experiments (Guild AI compatible)."""
    if debug:
        _debug_logging()
    if debug_listen:
        _wait_for_debugger(debug_listen)
    if cwd:
        import os

        os.chdir(_existing_dir(cwd))
    if guild_home:
        from luigi_guild.model import home

        home.set_guild_home(guild_home)


def _existing_dir(path: str) -> str:
    """``path`` (``~`` expanded) when it is a directory; Guild's error otherwise."""
    import os

    from luigi_guild.model.errors import GuildError

    path = os.path.expanduser(path)
    if not os.path.exists(path):
        raise GuildError("directory '%s' does not exist" % path)
    if not os.path.isdir(path):
        raise GuildError("'%s' is not a directory" % path)
    return path


def _debug_logging() -> None:
    """``--debug``: every logger at DEBUG on stderr, and ``LOG_LEVEL=10`` for the processes started."""
    import logging
    import os

    logging.basicConfig(level=logging.DEBUG, format="%(levelname)s: [%(name)s] %(message)s", stream=sys.stderr)
    os.environ["LOG_LEVEL"] = str(logging.DEBUG)


def _wait_for_debugger(spec: str) -> None:
    """``-D [HOST:]PORT``: listen with debugpy (loopback unless a host is given) and wait for a client."""
    from luigi_guild.model.errors import GuildError

    host, _, port_text = spec.rpartition(":")
    try:
        port = int(port_text)
    except ValueError:
        raise GuildError("invalid value for debug listen PORT %r" % port_text) from None
    try:
        import debugpy  # type: ignore[import-not-found,import-untyped,unused-ignore]
    except ImportError:
        raise GuildError("--debug-listen needs debugpy", hint="Install it with 'pip install debugpy'.") from None
    debugpy.listen((host or "127.0.0.1", port))
    sys.stderr.write("Debug server listening on %s\nWaiting for debug client\n" % spec)
    sys.stderr.flush()
    debugpy.wait_for_client()
    sys.stderr.write("Debug client connected, resuming\n")


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run the CLI; :mod:`luigi_guild.exits` maps errors to exit codes."""
    from luigi_guild import exits

    exits.run_main(lambda: cli.main(args=argv, prog_name="guild", standalone_mode=False), _click_exit_code)


def _click_exit_code(e: BaseException) -> int | None:
    """Print a click exception as Guild does and give its exit code; None for other exceptions."""
    from luigi_guild import exits
    from luigi_guild.model import exitcodes

    if isinstance(e, click.exceptions.Abort):
        if isinstance(e.__cause__, KeyboardInterrupt):  # Ctrl-C while a command ran (not at a prompt)
            return exitcodes.INTERRUPTED
        sys.stderr.write("Aborted!\n")
        return exitcodes.ABORTED
    if isinstance(e, click.ClickException):
        ctx = getattr(e, "ctx", None)
        hint = "Try '%s --help' for more information." % ctx.command_path if ctx is not None else None
        exits.print_error(e.format_message(), hint)
        return e.exit_code
    if isinstance(e, click.exceptions.Exit):
        return e.exit_code
    return None
