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
    "cat": ("cat", "cat"),
    "label": ("label", "label"),
    "ls": ("ls", "ls"),
    "pull": ("pull", "pull"),
    "push": ("push", "push"),
    "remotes": ("remotes", "remotes"),
    "operations": ("operations", "operations"),
    "ops": ("operations", "operations"),
    "run": ("run", "run"),
    "runs": ("runs", "runs"),
    "select": ("select", "select"),
    "stop": ("stop", "stop"),
    "tag": ("tag", "tag"),
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
@click.option("-H", "guild_home", metavar="PATH", help="Use PATH as Guild home (default $GUILD_HOME or ~/.guild).")
def cli(guild_home: str | None) -> None:
    """Record, compare and rerun ML experiments (Guild AI compatible)."""
    if guild_home:
        from luigi_guild.model import home

        home.set_guild_home(guild_home)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run the CLI and map errors to ``guild: ...``."""
    from luigi_guild.model.errors import GuildError

    try:
        rc = cli.main(args=argv, prog_name="guild", standalone_mode=False)
    except GuildError as e:
        _print_error(e.message, e.hint)
        sys.exit(e.exit_code)
    except click.exceptions.Abort:
        sys.stderr.write("Aborted!\n")
        sys.exit(4)
    except click.ClickException as e:
        _print_click_error(e)
        sys.exit(e.exit_code)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
    except OSError as e:
        # A file system failure the core did not expect (disk full, read-only
        # Guild home): one line, never a traceback.
        _print_error(_describe_os_error(e), None)
        sys.exit(1)
    sys.exit(rc if isinstance(rc, int) else 0)


def _print_error(message: str, hint: str | None) -> None:
    sys.stderr.write("guild: %s\n" % message)
    if hint:
        sys.stderr.write(hint.rstrip("\n") + "\n")
    sys.stderr.flush()


def _describe_os_error(e: OSError) -> str:
    what = e.strerror or str(e) or type(e).__name__
    if e.filename:
        return "%s: %s" % (what, e.filename)
    return what


def _print_click_error(e: click.ClickException) -> None:
    ctx = getattr(e, "ctx", None)
    hint = None
    if ctx is not None:
        hint = "Try '%s --help' for more information." % ctx.command_path
    _print_error(e.format_message(), hint)
