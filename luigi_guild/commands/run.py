"""``guild run``: run, restart or stage an operation."""

from __future__ import annotations

import sys

import click

from luigi_guild import flags as flagslib
from luigi_guild import launch
from luigi_guild.commands.common import confirm, echo_table, run_rows
from luigi_guild.errors import GuildError


@click.command("run", context_settings={"ignore_unknown_options": False})
@click.argument("args", metavar="[OPERATION] [FLAG=VAL...]", nargs=-1)
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--run-id", metavar="ID", help="Use ID as the run id (and directory name).")
@click.option("--needed", is_flag=True, help="Run only if no completed or terminated run has the same flags.")
@click.option("--restart", "--start", "restart", metavar="RUN", help="Start RUN again in its own directory.")
@click.option("--stage", is_flag=True, help="Create the run but do not start it.")
@click.option("--print-cmd", is_flag=True, help="Print the command the run would execute and exit.")
@click.option("-l", "--label", metavar="LABEL", help="Label for the run.")
@click.option("-t", "--tag", "tags", metavar="TAG", multiple=True, help="Tag the run (repeatable).")
@click.option("-f", "--force-flags", is_flag=True, help="Accept flags the operation does not define.")
@click.option("-q", "--quiet", is_flag=True, help="Do not show the operation's output.")
def run(
    args: tuple[str, ...],
    yes: bool,
    run_id: str | None,
    needed: bool,
    restart: str | None,
    stage: bool,
    print_cmd: bool,
    label: str | None,
    tags: tuple[str, ...],
    force_flags: bool,
    quiet: bool,
) -> None:
    """Run an operation.

    OPERATION is a Python script (`train.py`) or an operation defined in
    guild.yml. Flags are given as NAME=VAL.
    """
    opspec, flag_args = _split_args(args, restart)
    assigns = flagslib.parse_assigns(flag_args)
    if restart:
        if opspec:
            raise GuildError("OPERATION cannot be used with --restart")
        plan = launch.plan_restart(restart, assigns, force_flags=force_flags, label=label)
    else:
        plan = launch.plan_new(opspec, assigns, force_flags=force_flags, label=label, tags=list(tags))
    if print_cmd:
        click.echo(launch.print_cmd(plan))
        return
    if plan.restart is not None:
        _restart(plan, needed, yes, stage, quiet)
        return
    if needed:
        with launch.claim(plan):
            if _skip_matches(plan):
                return
            _new_run(plan, run_id, yes, stage, quiet)
    else:
        _new_run(plan, run_id, yes, stage, quiet)


def _split_args(args: tuple[str, ...], restart: str | None) -> tuple[str | None, list[str]]:
    if not args or "=" in args[0]:
        return None, list(args)
    return args[0], list(args[1:])


def _skip_matches(plan: launch.RunPlan) -> bool:
    from luigi_guild.runindex import RunIndex

    index = RunIndex.load()
    matches = index.needed(plan.opref, plan.flags)
    index.save()
    if not matches:
        return False
    click.echo("Skipping because the following runs match this operation (--needed specified):")
    echo_table(run_rows(index.snapshot(matches), numbered=False, with_dir=False), indent="  ")
    return True


def _confirm(plan: launch.RunPlan, action: str, yes: bool) -> None:
    if yes:
        return
    lines = ["You are about to %s %s" % (action, plan.op_name)]
    lines += ["  %s: %s" % (k, flagslib.format_val(v)) for k, v in plan.flags.items()]
    click.echo("\n".join(lines), err=True)
    if not confirm("Continue?", default=True):
        raise SystemExit(0)


def _new_run(plan: launch.RunPlan, run_id: str | None, yes: bool, stage: bool, quiet: bool) -> None:
    _confirm(plan, "stage" if stage else "run", yes)
    run = launch.create_run(plan, run_id)
    if stage:
        launch.stage(run, plan)
        click.echo("%s staged as %s" % (plan.op_name, run.id))
        click.echo("To start the operation, use 'guild run --start %s'" % run.id)
        return
    _finish(launch.start(run, plan, echo=not quiet))


def _restart(plan: launch.RunPlan, needed: bool, yes: bool, stage: bool, quiet: bool) -> None:
    run = plan.restart
    assert run is not None
    if needed and launch.restart_not_needed(plan):
        click.echo("Skipping run because flags have not changed (--needed specified)")
        return
    _confirm(plan, "start %s (%s)" % (run.id, plan.op_name) if not stage else "stage", yes)
    launch.prepare_restart_run(plan)
    if stage:
        launch.stage(run, plan)
        click.echo("%s staged as %s" % (plan.op_name, run.id))
        click.echo("To start the operation, use 'guild run --start %s'" % run.id)
        return
    _finish(launch.start(run, plan, echo=not quiet))


def _finish(exit_status: int) -> None:
    from luigi_guild.runner import exit_code_for

    sys.stdout.flush()
    if exit_status != 0:
        sys.exit(exit_code_for(exit_status))
