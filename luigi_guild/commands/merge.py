"""``guild merge``: copy a run's files back into its project directory (or another directory)."""

from __future__ import annotations

import os
import sys
from typing import Any, Callable

import click

from luigi_guild.commands.common import confirm, echo_table, note, run_rows
from luigi_guild.commands.completion import complete_runs
from luigi_guild.commands.filters import filter_options_no_s, one_run
from luigi_guild.model import exitcodes
from luigi_guild.model.errors import GuildError

DEFAULT_SUMMARY = "guild-summary.json"


def merge_options(f: Any) -> Any:
    """The options ``guild merge`` and ``guild api merge`` share (Guild's merge params)."""
    for decorator in reversed(_MERGE_OPTIONS):
        f = decorator(f)
    return f


_MERGE_OPTIONS: list[Callable[[Any], Any]] = [
    click.argument("run", metavar="[RUN]", required=False, shell_complete=complete_runs),
    filter_options_no_s,
    click.option(
        "-t", "--target-dir", metavar="DIR",
        help="Copy the files to DIR (needed when the run's project directory is not the current directory).",
    ),
    click.option("-s", "--sourcecode", is_flag=True, help="Copy only the run's source code (implies --skip-deps)."),
    click.option(
        "-a", "--all", "all_", is_flag=True,
        help="Copy every run file, including files the run made (combine with --skip-* and --exclude).",
    ),
    click.option("-S", "--skip-sourcecode", is_flag=True, help="Do not copy the run's source code."),
    click.option("-D", "--skip-deps", is_flag=True, help="Do not copy the run's project-local dependencies."),
    click.option("-x", "--exclude", metavar="PATTERN", multiple=True, help="Do not copy files matching PATTERN (repeatable)."),
    click.option("--no-summary", is_flag=True, help="Do not write a run summary file."),
    click.option(
        "--summary-name", metavar="NAME", default=DEFAULT_SUMMARY, show_default=True,
        help="File name of the run summary; '${run_id}' in NAME becomes the run id.",
    ),
    click.option("-p", "--preview", is_flag=True, help="Show what would be copied and skipped, and copy nothing."),
    click.option("-y", "--yes", is_flag=True, help="Do not ask before copying."),
    click.option("--replace", is_flag=True, help="Allow existing files to be replaced (not with --no-replace)."),
    click.option(
        "--no-replace", is_flag=True,
        help="Refuse to replace any file, even one git tracks unchanged (not with --replace).",
    ),
]


@click.command("merge")
@merge_options
def merge(
    run: str | None,
    target_dir: str | None,
    sourcecode: bool,
    all_: bool,
    skip_sourcecode: bool,
    skip_deps: bool,
    exclude: tuple[str, ...],
    no_summary: bool,
    summary_name: str,
    preview: bool,
    yes: bool,
    replace: bool,
    no_replace: bool,
    **kw: Any,
) -> None:
    """Copy a run's files (the latest run by default) into its project directory.

    Files go to the current directory, which must be the directory the run
    was made from, or to --target-dir DIR. Source code and project-local
    dependencies are copied; files the run made only with --all. Files that
    are the same in the target are skipped.

    Merge stops rather than replace a file, unless --replace is given or the
    target is a git work tree that tracks the file with no unstaged change
    (git can restore it); --no-replace refuses even then. A JSON summary of
    the run (flags, last scalars, copied files) is written as
    `guild-summary.json` unless --no-summary.
    """
    from luigi_guild.store import runmerge

    ctx = click.get_current_context()
    plan = planned(ctx, run, kw, target_dir, sourcecode, all_, skip_sourcecode, skip_deps, exclude, replace, no_replace)
    chosen = plan.run
    where = _dir_desc(plan.target_dir)
    problem = replace_problem(plan, replace, no_replace)
    if problem:
        what, paths = problem
        if what == "replaced":
            note("guild: files in %s would be replaced:" % where)
            echo_table([[p] for p in paths], indent="  ", err=True)
            note("Use --replace to skip this check.")
        else:
            note("guild: files in %s have unstaged changes:" % where)
            echo_table([[p] for p in paths], indent="  ", err=True)
            note("Stage or stash these changes or use --replace to skip this check.")
        raise SystemExit(exitcodes.ERROR)
    if not plan.to_copy and not preview:
        note("Nothing to copy for the following run:")
        echo_table(run_rows([chosen], numbered=False), indent="  ", err=True)
        note("Try '%s --preview' for a list of skipped files." % ctx.command_path)
        return
    if preview or not yes:
        _show(plan, where, preview)
        if preview:
            return
        if not confirm("Continue?", default=False):
            raise SystemExit(exitcodes.ABORTED)
    runmerge.apply(plan, lambda c: note("Copying %s" % c.target_path))
    if not no_summary:
        write_summary(plan, summary_name)


def planned(
    ctx: click.Context, run: str | None, kw: dict[str, Any], target_dir: str | None, sourcecode: bool, all_: bool,
    skip_sourcecode: bool, skip_deps: bool, exclude: tuple[str, ...], replace: bool, no_replace: bool,
) -> Any:
    """The merge plan for the chosen run, after Guild's checks of the options and the target directory."""
    from luigi_guild.store import runmerge

    hint = "Try '%s --help' for more information." % ctx.command_path
    if replace and no_replace:
        raise GuildError("--replace and --no-replace cannot both be specified", hint=hint)
    if sourcecode and skip_sourcecode:
        raise GuildError("--sourcecode and --skip-sourcecode cannot both be specified", hint=hint)
    if sourcecode:
        skip_deps = True
    chosen = one_run(kw, run, ctx.command_path.split(" ", 1)[1] if " " in ctx.command_path else "merge")
    if target_dir is None:
        project = runmerge.project_dir(chosen)
        cwd = os.getcwd()
        if os.path.realpath(project) != os.path.realpath(cwd):
            raise GuildError(
                "run %s was created from a different project (%s) - cannot merge to the current directory by default"
                % (chosen.id, project),
                hint="Use '--target-dir .' to override this check or try '%s --help' for more information."
                % ctx.command_path,
            )
        target_dir = cwd
    return runmerge.plan(chosen, os.path.abspath(target_dir), all_, skip_sourcecode, skip_deps, exclude)


def replace_problem(plan: Any, replace: bool, no_replace: bool) -> tuple[str, list[str]] | None:
    """``("replaced"|"unstaged", paths)`` when the merge would replace files it may not, else None."""
    from luigi_guild.store import runmerge

    if replace or not os.path.exists(plan.target_dir):
        return None
    return runmerge.vcs_check(plan) if not no_replace else _plain_replaced(plan)


def write_summary(plan: Any, summary_name: str) -> None:
    """Write the run summary file (``--summary-name``) and say so on stderr."""
    from luigi_guild.store import runmerge

    name = runmerge.summary_name(summary_name, plan.run)
    runmerge.write_summary(plan, name)
    note("Wrote run summary to %s" % name)


def _plain_replaced(plan: Any) -> tuple[str, list[str]] | None:
    from luigi_guild.store import runmerge

    paths = runmerge.replaced(plan)
    return ("replaced", paths) if paths else None


def _dir_desc(path: str) -> str:
    if os.path.realpath(path) == os.path.realpath(os.getcwd()):
        return "the current directory"
    return "'%s'" % path


def _show(plan: Any, where: str, preview: bool) -> None:
    from luigi_guild.store import runmerge

    if preview:
        note("Merge will copy files from the following run to %s:" % where)
    else:
        note("You are about to copy files from the following run to %s:" % where)
    echo_table(run_rows([plan.run], numbered=False), indent="  ", err=True)
    note("Files:")
    if not plan.to_copy:
        note("  nothing to copy")
    echo_table([[c.target_path] for c in sorted(plan.to_copy, key=lambda c: c.target_path)], indent="  ", err=True)
    if not plan.to_skip:
        return
    if preview:
        note("Skipped:")
        rows = [[s.path, runmerge.SKIP_REASONS[s.reason]] for s in sorted(plan.to_skip, key=lambda s: s.path)]
        echo_table(rows, indent="  ", err=True)
    else:
        count = len(plan.to_skip)
        note("%s will not be copied (use --preview to show the full list)" % ("1 file" if count == 1 else "%d files" % count))
    sys.stderr.flush()
