"""``guild runs``: list runs; subcommands delete, restore, purge, show info, stop, label, tag."""

from __future__ import annotations

import importlib
import json
import sys
from typing import Any, Callable

import click

from luigi_guild.commands.completion import complete_runs
from luigi_guild.store import query as runstore
from luigi_guild.commands.common import echo_table, format_table, note, nothing_to, preview_and_confirm, run_rows
from luigi_guild.commands.filters import filter_options, one_run, pop_filter, selected_runs
from luigi_guild.commands.remote_opt import forward, remote_option
from luigi_guild.model.errors import GuildError
from luigi_guild.store.rundir import Run

DEFAULT_LIMIT = 20

# Subcommands that live in their own modules (shared with top-level commands).
_OTHER_MODULES = {
    "stop": ("stop", "stop"),
    "label": ("label", "label"),
    "tag": ("tag", "tag"),
    "mark": ("mark", "mark"),
    "comment": ("comment", "comment"),
    "diff": ("diff", "diff"),
    "export": ("export", "export"),
    "import": ("export", "import_"),
    "merge": ("merge", "merge"),
    "publish": ("publish", "publish"),
    "pull": ("pull", "pull"),
    "push": ("push", "push"),
}


def list_options(f: Callable) -> Callable:
    """Options shared by ``guild runs`` and ``guild runs list``."""
    options: list[Callable[[Callable], Callable]] = [
        click.option("-a", "--all", "all_", is_flag=True, help="Show all runs."),
        click.option("-m", "--more", count=True, help="Show 20 more runs (repeat for more)."),
        click.option("-n", "--limit", type=int, metavar="N", help="Show at most N runs."),
        click.option("-s", "--simplified", is_flag=True, help="Show only index, operation, status and label."),
        click.option("--json", "json_", is_flag=True, help="Print runs as a JSON list (always all runs)."),
        click.option("-d", "--deleted", is_flag=True, help="Show deleted runs (the trash)."),
        click.option(
            "-A", "--archive", metavar="DIR", help="Show the runs in archive DIR (see 'guild export'): a directory or a zip file."
        ),
        click.option("-c", "--comments", is_flag=True, help="Show the comments of each run under it."),
        click.option("-v", "--verbose", is_flag=True, help="Show each run's details (as 'guild runs info' does) under it."),
        remote_option,
    ]
    for opt in reversed(options):
        f = opt(f)
    return filter_options(f)


def list_runs_cmd(
    all_: bool = False,
    more: int = 0,
    limit: int | None = None,
    simplified: bool = False,
    json_: bool = False,
    deleted: bool = False,
    archive: str | None = None,
    comments: bool = False,
    remote: str | None = None,
    verbose: bool = False,
    **kw: Any,
) -> None:
    """Print the run table newest first, with Guild's note when it is cut.

    With ``remote``, the remote's ``guild runs list`` prints its own runs.
    """
    if remote:
        forward(click.get_current_context(), remote, ["runs", "list"], prompts=False)
        return
    for other, given in (("comments", comments), ("json", json_)):
        if verbose and given:
            raise GuildError(
                "--%s and --verbose cannot both be specified" % other,
                hint="Try 'guild runs list --help' for more information.",
            )
    if all_ and limit is not None:
        raise GuildError("--all cannot be used with --limit")
    if archive and deleted:
        raise GuildError("--archive and --deleted cannot both be specified")
    if archive:
        from luigi_guild.store import archives as runarchive

        with runarchive.open_archive(archive) as root:
            _list(root, pop_filter(kw, "runs"), all_, more, limit, simplified, json_, comments, verbose=verbose)
        return
    _list(None, pop_filter(kw, "runs"), all_, more, limit, simplified, json_, comments, deleted, verbose)


def _list(
    archive_root: str | None,
    run_filter: Any,
    all_: bool,
    more: int,
    limit: int | None,
    simplified: bool,
    json_: bool,
    comments: bool,
    deleted: bool = False,
    verbose: bool = False,
) -> None:
    if archive_root is not None:
        from luigi_guild.store import filters as runfilter

        runs = runfilter.apply(runstore.archive_runs(archive_root), run_filter)
    else:
        runs = runstore.filtered_runs(run_filter, deleted=deleted)
    if json_:
        from luigi_guild.store import info as runinfo

        if all_ or more or limit is not None:
            note("--json option always shows all runs")
        from luigi_guild.store import scalars as scalarstore

        data = [runinfo.json_data(r) for r in runs]
        summaries = scalarstore.for_runs(runs)
        for r, d in zip(runs, data):
            # Guild's list has no scalars: the key is added only for runs that have some.
            scalars = runinfo.scalars_data(r, scalars=summaries[r.path])
            if scalars:
                d["scalars"] = scalars
        click.echo(json.dumps(data))
        return
    total = len(runs)
    if all_:
        shown = runs
    elif limit is not None and limit > 0:
        shown = runs[:limit]
    else:
        shown = runs[: DEFAULT_LIMIT * (1 + more)]
    if comments:
        from luigi_guild.commands.comment import comment_listing

        for line in comment_listing(shown, indexed=False, simplified=simplified):
            click.echo(line)
    else:
        rows = run_rows(shown)
        if simplified:
            rows = [["[%d]" % i, row[1], row[3], row[4]] for i, row in enumerate(rows, 1)]
        if verbose:
            for line, run in zip(format_table(rows), shown):
                click.echo(line)
                for detail in _run_detail(run):
                    click.echo("  " + detail)
        else:
            echo_table(rows)
    if not all_ and (limit is None or limit <= 0) and len(shown) < total:
        note("Showing the first %d runs (%d total) - use --all to show all or -m to show more" % (len(shown), total))


# What ``runs list -v`` shows under each run: the first fields of ``runs info``, as in Guild.
RUN_DETAIL = (
    "id operation from status started stopped marked label sourcecode_digest vcs_commit run_dir command "
    "exit_status pid"
).split()


def _run_detail(run: Any) -> list[str]:
    from luigi_guild.store import info as runinfo

    items = dict(runinfo.info_items(run))
    return ["%s: %s" % (name, items.get(name, "")) for name in RUN_DETAIL]


class RunsGroup(click.Group):
    """``guild runs``: its own subcommands plus ones shared with top-level commands."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(_OTHER_MODULES))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in _OTHER_MODULES:
            mod, attr = _OTHER_MODULES[name]
            return getattr(importlib.import_module("luigi_guild.commands." + mod), attr)
        return super().get_command(ctx, name)


@click.group("runs", cls=RunsGroup, invoke_without_command=True)
@list_options
@click.pass_context
def runs(ctx: click.Context, **kw: Any) -> None:
    """Show or manage runs.

    Without a subcommand, lists runs like `guild runs list`.
    """
    if ctx.invoked_subcommand is None:
        list_runs_cmd(**kw)
        return
    given = [
        name
        for name in kw
        if ctx.get_parameter_source(name) not in (None, click.core.ParameterSource.DEFAULT)
    ]
    if given:
        raise GuildError("options cannot be listed before command ('%s')" % ctx.invoked_subcommand)


@runs.command("list")
@list_options
def list_(**kw: Any) -> None:
    """List runs, newest first.

    Runs are numbered from 1 (the latest); use the number, a run ID or an ID
    prefix to select a run in other commands.
    """
    list_runs_cmd(**kw)


_RUN_ARGS_HELP = """
    RUN is a run ID, an ID prefix, a 1-based index into the filtered list
    (as `guild runs` shows it) or a START:END slice (`:` selects all).
"""


def _delete(runs: tuple[str, ...], permanent: bool, yes: bool, remote: str | None = None, **kw: Any) -> None:
    from luigi_guild.store import trash

    if remote:
        forward(click.get_current_context(), remote, ["runs", "delete"])
        return

    selected = selected_runs(kw, runs, [":"], "runs rm")
    if not selected:
        nothing_to("Nothing to delete.")
        return
    if permanent:
        preview = "WARNING: You are about to permanently delete the following runs:"
        prompt = "Permanently delete {count} run(s)?"
    else:
        preview, prompt = "You are about to delete the following runs:", "Delete {count} run(s)?"
    preview_and_confirm(selected, preview, prompt, yes, default=not permanent)
    _stop_before_delete(selected, yes)
    count = trash.delete_runs(selected, permanent=permanent)
    note(("Permanently deleted %d run(s)" if permanent else "Deleted %d run(s)") % count)


def _stop_before_delete(selected: list, yes: bool) -> None:
    from luigi_guild.run import stop as stopper
    from luigi_guild.commands.common import confirm
    from luigi_guild.model import exitcodes

    running = [r for r in selected if stopper.stoppable(r)]
    if not running:
        return
    if not yes:
        note("WARNING: One or more runs are still running and will be stopped before being deleted.")
        if not confirm("Really delete these runs?", default=False):
            raise SystemExit(exitcodes.ABORTED)
    for run in running:
        note("Stopping %s (pid %s)" % (run.id, run.lock_pid()))
        result = stopper.stop_run(run, force=True, timeout=10)
        stopper.wait_unlocked(run, result.parent)


def _rm_command(name: str) -> click.Command:
    @click.command(name)
    @click.argument("runs", metavar="[RUN...]", nargs=-1, shell_complete=complete_runs)
    @click.option("-p", "--permanent", is_flag=True, help="Delete the runs for good instead of moving them to the trash.")
    @click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
    @remote_option
    @filter_options
    def cmd(**kw: Any) -> None:
        _delete(**kw)

    cmd.help = (
        "Delete runs.\n\nDeleted runs go to the trash (see `guild runs list --deleted`,"
        " `guild runs restore`, `guild runs purge`) unless --permanent is given. Running runs"
        " are stopped first. Without RUN, every run that passes the filters is deleted.\n" + _RUN_ARGS_HELP
    )
    return cmd


runs.add_command(_rm_command("rm"))
runs.add_command(_rm_command("delete"))


def _trash_command(name: str, help_text: str, preview: str, prompt: str, default: bool, done: str) -> click.Command:
    """``runs restore`` and ``runs purge``: select deleted runs, confirm, act, say what was done."""

    @click.command(name, help=help_text)
    @click.argument("runs", metavar="[RUN...]", nargs=-1, shell_complete=complete_runs)
    @click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
    @remote_option
    @filter_options
    def cmd(runs: tuple[str, ...], yes: bool, remote: str | None, **kw: Any) -> None:
        from luigi_guild.store import trash

        if remote:
            forward(click.get_current_context(), remote, ["runs", name])
            return

        act = trash.restore_runs if name == "restore" else trash.purge_runs
        _from_trash(kw, runs, yes, name, preview, prompt, default, lambda sel: done % act(sel))

    return cmd


_FROM_TRASH_HELP = (
    "\n\nRUN selects from the deleted runs (`guild runs list --deleted`); without RUN, all deleted runs"
    " that pass the filters are %s."
)
runs.add_command(
    _trash_command(
        "restore",
        "Restore deleted runs from the trash." + _FROM_TRASH_HELP % "restored",
        "You are about to restore the following runs:",
        "Restore {count} run(s)?",
        True,
        "Restored %d run(s)",
    )
)
runs.add_command(
    _trash_command(
        "purge",
        "Permanently delete runs from the trash." + _FROM_TRASH_HELP % "purged",
        "WARNING: You are about to permanently delete the following runs:",
        "Permanently delete {count} run(s)?",
        False,
        "Permanently deleted %d run(s)",
    )
)


def _from_trash(
    kw: dict[str, Any],
    runs: tuple[str, ...],
    yes: bool,
    verb: str,
    preview: str,
    prompt: str,
    default: bool,
    act: Callable[[list[Run]], str],
) -> None:
    """Select deleted runs, confirm, act on them and say what was done."""
    selected = selected_runs(kw, runs, [":"], "runs " + verb, deleted=True)
    if not selected:
        nothing_to("Nothing to %s." % verb)
        return
    preview_and_confirm(selected, preview, prompt, yes, default)
    note(act(selected))


@runs.command("info")
@click.argument("run", metavar="[RUN]", required=False, shell_complete=complete_runs)
@click.option("--json", "json_", is_flag=True, help="Print the information as JSON.")
@click.option("-c", "--comments", is_flag=True, help="Also show the run's comments.")
@click.option("-s", "--all-scalars", is_flag=True, help="Show every scalar (system ones too) with its summaries.")
@click.option("-e", "--env", is_flag=True, help="Also show the environment the run started with.")
@click.option("-d", "--deps", is_flag=True, help="Also show the run's resolved dependencies.")
@click.option("-m", "--manifest", is_flag=True, help="Also show the run's manifest (source code and dependency files).")
@click.option("-p", "--plugins", is_flag=True, help="Also show the plugins Guild recorded for the run.")
@click.option("--private-attrs", is_flag=True, hidden=True)
@remote_option
@filter_options
def info(
    run: str | None, json_: bool, comments: bool, all_scalars: bool, remote: str | None,
    env: bool = False, deps: bool = False, manifest: bool = False, plugins: bool = False,
    private_attrs: bool = False, **kw: Any,
) -> None:
    """Show a run's id, operation, status, times, directory, command, exit status and flags.

    The default RUN is the latest run (1) of the filtered list. `-e`, `-d`,
    `-m` and `-p` add the environment, dependencies, manifest and plugins.
    """
    from luigi_guild.model import flags as flagslib
    from luigi_guild.store import info as runinfo

    if remote:
        forward(click.get_current_context(), remote, ["runs", "info"], prompts=False)
        return

    chosen = one_run(kw, run, "runs info")
    items = runinfo.info_items(chosen, all_scalars)
    if comments:
        from luigi_guild.store import meta as runmeta

        items.append(("comments", runmeta.run_comments(chosen)))
    if private_attrs:  # Guild's hidden option: the operation reference and the 'op' attribute
        at = [name for name, _ in items].index("pid") + 1
        items[at:at] = [("opref", chosen.opref.encode()), ("op", chosen.get("op"))]
    if env:
        items.append(("environment", chosen.get("env") or {}))
    if manifest:
        items.append(("manifest", _manifest_sections(chosen.path)))
    if deps:
        items.append(("dependencies", chosen.get("deps") or {}))
    if plugins:
        items.append(("plugins", chosen.get("plugins") or []))
    if json_:
        click.echo(json.dumps(dict(items)))
        return
    lines = []
    for name, val in items:
        if name == "comments":
            lines.append("comments:")
            lines += _comment_info_lines(val)
        elif name == "scalars":
            lines.append("scalars:")
            lines += _scalar_lines(val, all_scalars)
        elif name in ("environment", "manifest", "dependencies", "plugins", "op"):
            lines += _yaml_section_lines(name, val)
        elif isinstance(val, list):
            lines.append("%s:" % name)
            lines += ["  - %s" % flagslib.format_val(v) for v in val]
        elif isinstance(val, dict):
            lines.append("%s:" % name)
            lines += ["  %s: %s" % (k, flagslib.format_val(val[k])) for k in sorted(val)]
        else:
            lines.append("%s: %s" % (name, val))
    sys.stdout.write("\n".join(lines) + "\n")


def _manifest_sections(run_dir: str) -> dict[str, list[str]]:
    """The manifest as Guild's ``runs info -m`` shows it: sorted paths under sourcecode/dependencies."""
    from luigi_guild.store import manifest as runmanifest

    out: dict[str, list[str]] = {}
    for entry in runmanifest.read(run_dir) or []:
        section = {"s": "sourcecode", "d": "dependencies"}.get(entry[0]) if entry else None
        if section and len(entry) > 1:
            out.setdefault(section, []).append(entry[1])
    return {k: sorted(v) for k, v in out.items()}


def _yaml_section_lines(name: str, val: Any) -> list[str]:
    """``name:`` then its items as Guild prints them: scalars YAML-encoded, nested values as YAML blocks."""
    from luigi_guild.model import yamlutil

    def enc(v: Any) -> str:  # scalars as flag values read: yes/no for booleans
        return ("yes" if v else "no") if isinstance(v, bool) else yamlutil.encode(v)

    lines = ["%s:" % name]
    if isinstance(val, list):
        return lines + ["  - %s" % enc(v) for v in val]
    if not isinstance(val, dict):
        return ["%s: %s" % (name, "" if val is None else val)]
    for key in sorted(val):
        item = val[key]
        if isinstance(item, list):
            lines.append("  %s:" % key)
            lines += ["    - %s" % enc(v) for v in item]
        elif isinstance(item, dict):
            lines.append("  %s:" % key)
            lines += ["    " + line for line in yamlutil.encode(item).split("\n")]
        else:
            lines.append("  %s: %s" % (key, enc(item)))
    return lines


def _scalar_lines(scalars: dict[str, Any], all_scalars: bool) -> list[str]:
    """``runs info`` scalar lines: ``  key: 0.333333 (step 2)`` or, with ``-s``, one line per summary."""
    lines = []
    for key, val in scalars.items():
        if not all_scalars:
            lines.append("  %s: %f (step %d)" % (key, val[0], val[1]))
            continue
        lines.append("  %s:" % key)
        for qual, (v, n) in val.items():
            lines.append("    %s: %f (%s %d)" % (qual, v, "count" if qual in ("avg", "total") else "step", n))
    return lines


def _comment_info_lines(comments: list[dict]) -> list[str]:
    """``runs info --comments`` entries: ``-`` then body (a ``|`` block when multi-line), host, time, user."""
    from luigi_guild.model.table import format_timestamp

    lines = []
    for c in comments:
        lines.append("  -")
        body = str(c.get("body") or "").strip()
        if "\n" in body:
            lines.append("    body: |")
            lines += [("      " + line).rstrip() for line in body.splitlines()]
        else:
            lines.append("    body: %s" % body)
        try:
            when = format_timestamp(int(c.get("time") or 0))
        except (TypeError, ValueError):
            when = str(c.get("time"))
        lines += ["    host: %s" % (c.get("host") or ""), "    time: %s" % when, "    user: %s" % (c.get("user") or "")]
    return lines
