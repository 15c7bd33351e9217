"""``guild run``: run, restart or stage an operation."""

from __future__ import annotations

import sys
from dataclasses import dataclass

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
@click.option("-b", "--background", is_flag=True, help="Run in the background; return once it has started.")
@click.option("--pidfile", metavar="PATH", help="With --background: write the runner's pid to PATH.")
@click.option("--project-dir", metavar="DIR", hidden=True, help="Resolve OPERATION in DIR instead of the cwd.")
@click.option("--package", metavar="NAME[==VER]", hidden=True, help="Record the run as made from package NAME.")
@click.option("-r", "--remote", metavar="REMOTE", help="Run the operation on REMOTE (see 'guild remotes').")
@click.option("-n", "--no-wait", is_flag=True, help="With --remote: return once the run has started.")
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
    background: bool,
    pidfile: str | None,
    project_dir: str | None,
    package: str | None,
    remote: str | None,
    no_wait: bool,
) -> None:
    """Run an operation.

    OPERATION is a Python script (`train.py`) or an operation defined in
    guild.yml. Flags are given as NAME=VAL.

    With --remote, the project's source is copied to REMOTE and the run is
    made and started there (detached, so it survives the connection closing);
    its output is shown until it stops unless --no-wait is given.
    """
    opspec, flag_args = _split_args(args, restart)
    assigns = flagslib.parse_assigns(flag_args)
    if remote:
        for given, name in ((background, "--background"), (pidfile, "--pidfile"), (run_id, "--run-id"),
                            (project_dir, "--project-dir"), (package, "--package"), (print_cmd, "--print-cmd")):
            if given:
                raise GuildError("%s cannot be used with --remote" % name)
        _run_remote(remote, opspec, flag_args, assigns, restart, yes, needed, stage, no_wait, label, tags, force_flags)
        return
    if no_wait:
        raise GuildError("--no-wait can only be used with --remote")
    if restart:
        if opspec:
            raise GuildError("OPERATION cannot be used with --restart")
        plan = launch.plan_restart(restart, assigns, force_flags=force_flags, label=label)
    else:
        plan = launch.plan_new(
            opspec, assigns, force_flags=force_flags, cwd=project_dir, label=label, tags=list(tags)
        )
        if package:
            launch.as_package(plan, package)
    start_opts = _StartOpts(quiet=quiet, background=background or bool(pidfile), pidfile=pidfile)
    if print_cmd:
        click.echo(launch.print_cmd(plan))
        return
    if plan.restart is not None:
        _restart(plan, needed, yes, stage, start_opts)
        return
    if needed:
        with launch.claim(plan):
            if _skip_matches(plan):
                return
            _new_run(plan, run_id, yes, stage, start_opts)
    else:
        _new_run(plan, run_id, yes, stage, start_opts)


@dataclass
class _StartOpts:
    quiet: bool
    background: bool
    pidfile: str | None


def _run_remote(
    remote: str,
    opspec: str | None,
    flag_args: list[str],
    assigns: dict[str, str],
    restart: str | None,
    yes: bool,
    needed: bool,
    stage: bool,
    no_wait: bool,
    label: str | None,
    tags: tuple[str, ...],
    force_flags: bool,
) -> None:
    """``guild run ... -r REMOTE``: check locally, ship the project, run and watch remotely."""
    from luigi_guild.remote import actions
    from luigi_guild.remote import config as remote_config

    remote_config.remote_config(remote)  # an undefined remote fails before anything else
    req = actions.RemoteRunRequest(
        remote=remote,
        opspec=opspec,
        flag_args=flag_args,
        restart=restart,
        needed=needed,
        stage=stage,
        no_wait=no_wait,
        label=label,
        tags=list(tags),
        force_flags=force_flags,
    )
    if restart:
        if opspec:
            raise GuildError("OPERATION cannot be used with --restart")
        if not yes:
            click.echo("You are about to start %s on %s" % (restart, remote), err=True)
            if not confirm("Continue?", default=True):
                raise SystemExit(0)
    else:
        opdef = _remote_opdef(opspec)
        plan = launch.plan_new(opspec, assigns, force_flags=force_flags, label=label, tags=list(tags), opdef=opdef)
        if not yes:
            lines = ["You are about to %s %s on %s" % ("stage" if stage else "run", plan.op_name, remote)]
            lines += ["  %s: %s" % (k, flagslib.format_val(v)) for k, v in plan.flags.items()]
            click.echo("\n".join(lines), err=True)
            if not confirm("Continue?", default=True):
                raise SystemExit(0)
        from luigi_guild.remote import package as packagelib

        click.echo("Building package", err=True)
        req.package = packagelib.build(plan.project_dir or ".")
    code = actions.run(req)
    if code:
        raise SystemExit(code)


def _remote_opdef(opspec: str | None):
    """The guild.yml operation to run remotely; scripts are refused."""
    import os

    from luigi_guild import operations

    opdef = operations.resolve(opspec)
    if opdef.opref.pkg_type == "script":
        module = os.path.splitext(os.path.basename(opdef.opref.op_name))[0]
        raise GuildError(
            "cannot run scripts remotely",
            hint="Define an operation in guild.yml that uses %s as the main module and run that "
            "operation instead." % module,
        )
    return opdef


def _split_args(args: tuple[str, ...], restart: str | None) -> tuple[str | None, list[str]]:
    if not args or "=" in args[0]:
        return None, list(args)
    return args[0], list(args[1:])


def _skip_matches(plan: launch.RunPlan) -> bool:
    matches = plan.target().matches()
    if not matches:
        return False
    click.echo("Skipping because the following runs match this operation (--needed specified):")
    echo_table(run_rows(matches, numbered=False, with_dir=False), indent="  ")
    return True


def _confirm(plan: launch.RunPlan, action: str, yes: bool) -> None:
    if yes:
        return
    lines = ["You are about to %s %s" % (action, plan.op_name)]
    lines += ["  %s: %s" % (k, flagslib.format_val(v)) for k, v in plan.flags.items()]
    click.echo("\n".join(lines), err=True)
    if not confirm("Continue?", default=True):
        raise SystemExit(0)


def _new_run(plan: launch.RunPlan, run_id: str | None, yes: bool, stage: bool, opts: _StartOpts) -> None:
    _confirm(plan, "stage" if stage else "run", yes)
    run = launch.create_run(plan, run_id)
    if stage:
        launch.stage(run, plan)
        click.echo("%s staged as %s" % (plan.op_name, run.id))
        click.echo("To start the operation, use 'guild run --start %s'" % run.id)
        return
    _start(run, plan, opts)


def _start(run, plan: launch.RunPlan, opts: _StartOpts) -> None:
    if opts.background:
        from luigi_guild.background import start_detached

        start_detached(run, lambda: launch.start(run, plan, echo=False), opts.pidfile)
        if not opts.quiet:
            suffix = " (pidfile %s)" % opts.pidfile if opts.pidfile else ""
            click.echo("%s started in background as %s%s" % (plan.op_name, run.id, suffix))
        return
    _finish(launch.start(run, plan, echo=not opts.quiet))


def _restart(plan: launch.RunPlan, needed: bool, yes: bool, stage: bool, opts: _StartOpts) -> None:
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
    _start(run, plan, opts)


def _finish(exit_status: int) -> None:
    from luigi_guild.runner import exit_code_for

    sys.stdout.flush()
    if exit_status != 0:
        sys.exit(exit_code_for(exit_status))
