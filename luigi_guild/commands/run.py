"""``guild run``: run, restart or stage an operation."""

from __future__ import annotations

import os
import shlex
import sys

import click

from luigi_guild.commands.completion import complete_run_args, complete_runs
from luigi_guild.commands.common import confirm, echo_table, run_rows
from luigi_guild.model import exitcodes
from luigi_guild.model import flags as flagslib
from luigi_guild.model.errors import GuildError
from luigi_guild.model.outcome import Outcome, OutcomeKind
from luigi_guild.run import pipeline
from luigi_guild.run import plan as planlib
from luigi_guild.run.pipeline import RunOptions

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

    from luigi_guild.model.opdef import OpDef
    from luigi_guild.store.rundir import Run
    from luigi_guild.run.deps import Resolution
    from luigi_guild.sweeps.driver import SweepOptions
    from luigi_guild.sweeps.trials import SweepSpec


# As in Guild, ``-h`` is ``--help-op`` here, not the command's help (``--help``).
@click.command("run", context_settings={"ignore_unknown_options": False, "help_option_names": ["--help"]})
@click.argument("args", metavar="[OPERATION] [FLAG=VAL...]", nargs=-1, shell_complete=complete_run_args)
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--run-id", metavar="ID", help="Use ID as the run id (and directory name).")
@click.option(
    "-d", "--run-dir", metavar="DIR",
    help="Make the run in DIR instead of Guild home (guild runs does not list it).",
)
@click.option("--needed", is_flag=True, help="Run only if no completed or terminated run has the same flags.")
@click.option(
    "--restart", "--start", "restart", metavar="RUN", help="Start RUN again in its own directory.",
    shell_complete=complete_runs,
)
@click.option(
    "--proto", metavar="RUN", help="Make a new run with RUN's operation, flags and source code (flags may be given).",
    shell_complete=complete_runs,
)
@click.option("--stage", is_flag=True, help="Create the run but do not start it.")
@click.option("--print-cmd", is_flag=True, help="Print the command the run would execute and exit.")
@click.option("--print-env", is_flag=True, help="Print the variables the operation sets in its environment and exit.")
@click.option("--test-flags", is_flag=True, help="Show the operation's flag definitions as Guild resolves them and exit.")
@click.option("--help-model", is_flag=True, help="Show the operations of the operation's model and exit.")
@click.option("-h", "--help-op", is_flag=True, help="Show the operation's description and flags, and exit.")
@click.option("--gpus", metavar="DEVICES", help="Let the run see only GPUs DEVICES (comma-separated; sets CUDA_VISIBLE_DEVICES).")
@click.option("--no-gpus", is_flag=True, help="Hide every GPU from the run (CUDA_VISIBLE_DEVICES is empty).")
@click.option("--stop-after", type=float, metavar="N", help="Stop the run after N minutes.")
@click.option("--debug-sourcecode", metavar="PATH",
              help="Import the run's Python code from PATH (e.g. the project) instead of the run's copy.")
@click.option("--break", "breaks", metavar="LOCATION", multiple=True,
              help="Stop in pdb at LOCATION: LINE of the main module, FILE:LINE or MODULE.FUNCTION (repeatable).")
@click.option("--break-on-error", is_flag=True, help="Open the Python debugger (pdb) where the run's script fails.")
@click.option("-l", "--label", metavar="LABEL", help="Label for the run.")
@click.option("-c", "--comment", metavar="COMMENT", help="Add COMMENT to the run's comments.")
@click.option("-ec", "--edit-comment", is_flag=True, help="Write the run's comment in an editor ($VISUAL or $EDITOR).")
@click.option("-e", "--edit-flags", is_flag=True, help="Edit the run's flags in an editor ($VISUAL or $EDITOR) first.")
@click.option("-t", "--tag", "tags", metavar="TAG", multiple=True, help="Tag the run (repeatable).")
@click.option("-bl", "--batch-label", metavar="LABEL", help="Label for a sweep's batch run (trials keep --label).")
@click.option("-bt", "--batch-tag", "batch_tags", metavar="TAG", multiple=True, help="Tag a sweep's batch run (repeatable).")
@click.option("-bc", "--batch-comment", metavar="COMMENT", help="Add COMMENT to a sweep's batch run (trials keep --comment).")
@click.option("-ebc", "--edit-batch-comment", is_flag=True, help="Write the batch run's comment in an editor ($VISUAL or $EDITOR).")
@click.option("-f", "--force-flags", is_flag=True, help="Accept flags the operation does not define.")
@click.option("-q", "--quiet", is_flag=True, help="Do not show the operation's output.")
@click.option("--keep-run", is_flag=True, help="Keep the run even if its operation has delete-on-success.")
@click.option("-b", "--background", is_flag=True, help="Run in the background; return once it has started.")
@click.option("--pidfile", metavar="PATH", help="With --background: write the runner's pid to PATH.")
@click.option("--project-dir", metavar="DIR", hidden=True, help="Resolve OPERATION in DIR instead of the cwd.")
@click.option("--package", metavar="NAME[==VER]", hidden=True, help="Record the run as made from package NAME.")
@click.option("-o", "--optimizer", metavar="NAME", help="Sweep with optimizer NAME: grid (list values) or random.")
@click.option("-O", "--optimize", is_flag=True, help="Sweep with the operation's default optimizer (gp when it defines none).")
@click.option("-Fo", "--opt-flag", "opt_flags", metavar="NAME=VAL", multiple=True,
              help="Optimizer flag, e.g. random-starts=5, kappa=1.5, acq-func=EI (repeatable).")
@click.option("-N", "--minimize", metavar="COL", help="Objective to minimize (default: loss).")
@click.option("-X", "--maximize", metavar="COL", help="Objective to maximize.")
@click.option("-m", "--max-trials", "--trials", type=int, metavar="N", help="Run at most N trials (random search and optimizers: default 20).")
@click.option("--random-seed", type=int, metavar="N", help="Seed for random search and trial sampling.")
@click.option("--workers", type=int, default=1, metavar="N", show_default=True, help="Run up to N trials at once.")
@click.option("--fail-on-trial-error", is_flag=True, help="Stop the sweep at the first failed trial.")
@click.option("--keep-batch", is_flag=True, help="Keep the batch run of a successful sweep.")
@click.option("--stage-trials", is_flag=True, help="Stage each trial of a sweep instead of running it (start them with a queue).")
@click.option("--print-trials", is_flag=True, help="Show the trials a sweep would run and exit.")
@click.option("--save-trials", metavar="PATH", help="Save a sweep's trials to PATH (.csv, .json or no extension) and exit.")
@click.option(
    "--build-deps", is_flag=True, help="Run required operations that have no completed run first (via Luigi)."
)
@click.option("-D", "--dep", "extra_deps", metavar="PATH", multiple=True,
              help="Include PATH (a file or directory) as a dependency: linked into the run (repeatable).")
@click.option("--force-deps", is_flag=True, help="Run even when a required operation has no usable run (warns).")
@click.option("--scheduler-host", metavar="HOST", help="Use the central Luigi scheduler (luigid) on HOST.")
@click.option("--scheduler-port", type=int, metavar="PORT", help="Port of the central Luigi scheduler (default 8082).")
@click.option("-r", "--remote", metavar="REMOTE", help="Run the operation on REMOTE (see 'guild remotes').")
@click.option("-n", "--no-wait", is_flag=True, help="With --remote: return once the run has started.")
@click.option("--slurm-jobs", metavar="JSON", hidden=True, help="Submit a sweep's trials as Slurm jobs (set by a slurm remote).")
@click.option(
    "--test-output-scalars", metavar="PATH", help="Show how the operation's output-scalar patterns match the lines of PATH ('-' for stdin)."
)
@click.option("--test-sourcecode", is_flag=True, help="Show which source files a run would copy, and why, and exit.")
@click.option(
    "--force-sourcecode", is_flag=True, help="With --restart: copy the project's current source code into the run again."
)
def run(
    args: tuple[str, ...],
    yes: bool,
    run_id: str | None,
    run_dir: str | None,
    needed: bool,
    restart: str | None,
    proto: str | None,
    stage: bool,
    print_cmd: bool,
    print_env: bool,
    test_flags: bool,
    help_model: bool,
    help_op: bool,
    gpus: str | None,
    no_gpus: bool,
    stop_after: float | None,
    debug_sourcecode: str | None,
    breaks: tuple[str, ...],
    break_on_error: bool,
    label: str | None,
    comment: str | None,
    edit_comment: bool,
    edit_flags: bool,
    tags: tuple[str, ...],
    batch_label: str | None,
    batch_tags: tuple[str, ...],
    batch_comment: str | None,
    edit_batch_comment: bool,
    force_flags: bool,
    quiet: bool,
    keep_run: bool,
    background: bool,
    pidfile: str | None,
    project_dir: str | None,
    package: str | None,
    optimizer: str | None = None,
    optimize: bool = False,
    opt_flags: tuple[str, ...] = (),
    minimize: str | None = None,
    maximize: str | None = None,
    max_trials: int | None = None,
    random_seed: int | None = None,
    workers: int = 1,
    fail_on_trial_error: bool = False,
    keep_batch: bool = False,
    stage_trials: bool = False,
    print_trials: bool = False,
    save_trials: str | None = None,
    build_deps: bool = False,
    force_deps: bool = False,
    extra_deps: tuple[str, ...] = (),
    scheduler_host: str | None = None,
    scheduler_port: int | None = None,
    remote: str | None = None,
    no_wait: bool = False,
    test_output_scalars: str | None = None,
    test_sourcecode: bool = False,
    force_sourcecode: bool = False,
    slurm_jobs: str | None = None,
) -> None:
    """Run an operation.

    OPERATION is a Python script (`train.py`) or an operation defined in
    guild.yml. Flags are given as NAME=VAL. A list value (`x=[1,2,3]`) runs
    a grid of trials; `x=[0:1]`, `uniform[a:b]` or `loguniform[a:b]` a random
    search; `@FILE` (csv, yaml or json) one trial per row.

    With --remote, the project's source is copied to REMOTE and the run is
    made and started there (detached, so it survives the connection closing);
    its output is shown until it stops unless --no-wait is given.
    """
    opspec, flag_args = _split_args(args, restart)
    if print_cmd and print_env:
        raise GuildError("--print-cmd and --print-env cannot both be used",
                         hint="Try 'guild run --help' for more information.")
    if gpus is not None and no_gpus:
        raise GuildError("--no-gpus and --gpus cannot both be used", hint="Try 'guild run --help' for more information.")
    if proto and restart:
        raise GuildError("--proto cannot be used with --restart", hint="Try 'guild run --help' for more information.")
    if remote and (edit_flags or edit_comment or break_on_error):
        raise GuildError("--%s cannot be used with --remote" % (
            "edit-flags" if edit_flags else "edit-comment" if edit_comment else "break-on-error"))
    if proto and remote:
        raise GuildError("--proto cannot be used with --remote")
    if extra_deps and (restart or remote):
        raise GuildError("--dep cannot be used with %s" % ("--restart" if restart else "--remote"))
    if test_flags:
        from luigi_guild.project import operations

        click.echo("\n".join(_test_flags_lines(operations.resolve(opspec, project_dir))))
        return
    if help_model:
        from luigi_guild.commands.ophelp import help_model_lines
        from luigi_guild.project import guildfile, operations

        opdef = operations.resolve(opspec, project_dir)
        ops = [opdef]
        if opdef.opref.pkg_type == "guildfile":
            ops = [op for op in guildfile.list_ops(opdef.opref.pkg_name)
                   if op.opref.model_name == opdef.opref.model_name]
        click.echo("\n".join(help_model_lines(opdef, ops)))
        return
    if help_op:
        from luigi_guild.commands.ophelp import help_op_lines
        from luigi_guild.project import operations

        click.echo("\n".join(help_op_lines(operations.resolve(opspec, project_dir))))
        return
    batch_files = [a[1:] for a in flag_args if a.startswith("@")]
    assigns = flagslib.parse_assigns([a for a in flag_args if not a.startswith("@")])
    if workers < 1:
        raise GuildError("invalid --workers %d: expected 1 or more" % workers)
    if remote:
        from luigi_guild.remote.base import remote_for

        for given, name in ((background, "--background"), (pidfile, "--pidfile"), (run_id, "--run-id"),
                            (project_dir, "--project-dir"), (package, "--package"), (print_cmd, "--print-cmd"),
                            (batch_files, "a batch file"), (build_deps, "--build-deps"),
                            (scheduler_host, "--scheduler-host"), (comment, "--comment"), (slurm_jobs, "--slurm-jobs")):
            if given:
                raise GuildError("%s cannot be used with --remote" % name)
        target = remote_for(remote)  # an undefined or misconfigured remote fails before anything runs
        drives = target.runs_sweep_driver  # a remote that runs sweeps itself takes the sweep options
        for given, name in ((optimizer and not drives, "--optimizer"), (workers != 1 and not drives, "--workers")):
            if given:
                raise GuildError("%s cannot be used with --remote" % name)
        sweep_args: list[str] = []
        if drives:
            if restart and (optimizer or optimize):
                raise GuildError("--restart cannot be used with a batch file or --optimizer")
            sweep_args = _sweep_args(optimizer, optimize, opt_flags, minimize, maximize, max_trials, random_seed,
                                     workers, fail_on_trial_error, keep_batch, quiet)
        _run_remote(remote, opspec, flag_args, assigns, restart, yes, needed, stage, no_wait, label, tags, force_flags,
                    sweep_args)
        return

    if no_wait:
        raise GuildError("--no-wait can only be used with --remote")
    if run_dir:
        for given, name in ((restart, "--restart"), (run_id, "--run-id"), (background or pidfile, "--background"),
                            (batch_files or optimizer, "a sweep")):
            if given:
                raise GuildError("--run-dir cannot be used with %s" % name)
    if test_sourcecode:
        if restart:
            raise GuildError(
                "--test-sourcecode cannot be used with --restart", hint="Try 'guild run --help' for more information."
            )
        _test_sourcecode(opspec, project_dir)
        return
    if test_output_scalars is not None:
        if restart:
            raise GuildError("--test-output-scalars cannot be used with --restart")
        _test_output_scalars(opspec, project_dir, test_output_scalars)
        return
    if not restart and opspec is not None and "=" not in opspec:
        from luigi_guild.sweeps import queue as queuelib

        if queuelib.is_queue(opspec):
            if batch_files or optimizer or print_cmd or stage or stage_trials or print_trials or save_trials or needed:
                raise GuildError("queue cannot be used with a batch file, --optimizer, --print-cmd, --stage, "
                                 "--stage-trials, --print-trials, --save-trials or --needed")
            _queue(queuelib.resolve_flags(assigns), yes, background or bool(pidfile), pidfile, quiet,
                   scheduler_host, scheduler_port)
            return
    if restart:
        if opspec:
            raise GuildError("OPERATION cannot be used with --restart")
        if batch_files or optimizer:
            raise GuildError("--restart cannot be used with a batch file or --optimizer")
        from luigi_guild.store import query

        restart_run = query.find_run(restart, "run")
        if restart_run.is_batch:
            from luigi_guild.sweeps import restart as batch_restart

            if batch_restart.is_batch_run(restart_run):
                if stage or run_id:
                    raise GuildError("--stage and --run-id cannot be used to restart a batch")
                restarting = batch_restart.plan_batch_restart(
                    restart_run, assigns, force_flags=force_flags, max_trials=max_trials, random_seed=random_seed,
                    opt_flags=flagslib.parse_assigns(opt_flags), minimize=minimize, maximize=maximize, label=label,
                    keep_batch=keep_batch, stage_trials=stage_trials,
                )
                _restart_batch(restarting, needed, yes, print_cmd, workers, quiet, fail_on_trial_error,
                               scheduler_host, scheduler_port)
                return
        plan = planlib.plan_restart(restart, assigns, force_flags=force_flags, label=label, run=restart_run)
        if force_sourcecode:
            planlib.force_sourcecode(plan)
    elif proto:
        if batch_files or optimizer or optimize:
            raise GuildError("--proto cannot be used with a batch file or --optimizer")
        plan = planlib.plan_proto(proto, assigns, force_flags=force_flags, label=label)
        if tags:
            plan.tags = list(tags)
        if force_sourcecode:
            planlib.force_sourcecode(plan)
    else:
        plan = planlib.plan_new(
            opspec, assigns, force_flags=force_flags, cwd=project_dir, label=label, tags=list(tags)
        )
        if package:
            planlib.as_package(plan, package)
    if extra_deps and plan.opdef is not None:
        from luigi_guild.run import deps as depslib

        plan.opdef = depslib.with_cli_deps(plan.opdef, list(extra_deps), os.getcwd())
    if no_gpus:
        plan.run_params.pop("gpus", None)
        plan.run_params["no_gpus"] = True
    elif gpus is not None:
        plan.run_params.pop("no_gpus", None)
        plan.run_params["gpus"] = gpus
    if stop_after is not None:
        plan.run_params["stop_after"] = stop_after
    if break_on_error:
        plan.run_params["break_on_error"] = True
    if breaks:
        plan.run_params["break"] = list(breaks)
    if debug_sourcecode:
        plan.run_params["debug_sourcecode"] = [os.path.abspath(p) for p in debug_sourcecode.split(os.pathsep)]
    if edit_flags:
        _edit_flags(plan, force_flags)
    plan.comment = _edit_comment(comment, "run") if edit_comment else comment
    if print_env:
        from luigi_guild.run.process import print_env as env_to_print

        for name, val in sorted(env_to_print(plan).items()):
            click.echo("%s=%s" % (name, shlex.quote(val)))
        return
    if plan.restart is None:
        from luigi_guild.sweeps.trials import SweepSpec, is_sweep  # light: no driver, csv, random or yaml

        if is_sweep(plan.flags, batch_files, optimizer or ("+" if optimize else None)):
            if plan.proto is not None:
                raise GuildError("--proto cannot be used with a sweep")
            from luigi_guild.sweeps import driver as sweeps
            from luigi_guild.sweeps import learners
            from luigi_guild.sweeps import objective as objectives

            if run_dir:
                raise GuildError("--run-dir cannot be used with a sweep")
            if stage and stage_trials:
                raise GuildError("--stage and --stage-trials cannot both be used")
            choice = learners.choose(plan.opdef, optimizer, optimize, flagslib.parse_assigns(opt_flags))
            spec = SweepSpec(choice.name if choice else optimizer, max_trials, random_seed, batch_files)
            learner = learners.learner_class(spec.optimizer) if spec.optimizer else None
            if learner is not None:
                assert choice is not None
                spec.opt_flags = choice.flags
                spec.objective = objectives.resolve(minimize, maximize, plan.opdef.objective if plan.opdef else None)
                if print_trials or save_trials:
                    raise GuildError("optimizer does not support %s trials" % ("printing" if print_trials else "saving"))
                if stage_trials:
                    raise GuildError("operation '%s:%s' does not support --stage-trials" % (learner.model, learner.name))
            elif minimize or maximize:
                raise GuildError("--minimize and --maximize need an optimizer that learns (-o gp, -O...)")
            if print_cmd:
                if learner is not None:
                    raise GuildError("optimizer %s does not support --print-cmd (it chooses trials as results come in)"
                                     % learner.name)
                _print_trial_cmds(plan, spec, force_flags)
                return
            if print_trials or save_trials:
                _show_trials(plan, spec, force_flags, save_trials)
                return
            _resolve_deps(plan, build_deps, scheduler_host, scheduler_port, force_deps)
            in_background = background or bool(pidfile)
            if in_background and (stage or stage_trials):
                raise GuildError("--background cannot be used with --stage or --stage-trials")
            _sweep(
                plan,
                spec,
                sweeps.SweepOptions(
                    needed=needed,
                    fail_on_trial_error=fail_on_trial_error,
                    keep_batch=keep_batch or in_background,  # as under Guild, a batch run in the background is kept
                    workers=workers,
                    quiet=quiet,
                    label=label,
                    tags=list(tags),
                    batch_label=batch_label,
                    batch_tags=list(batch_tags),
                    batch_comment=_edit_comment(batch_comment, "batch") if edit_batch_comment else batch_comment,
                    force_flags=force_flags,
                    stage_trials=stage_trials,
                    stage_batch=stage or in_background,
                    run_id=run_id,
                ),
                yes,
                scheduler_host,
                scheduler_port,
                slurm_jobs,
                background=(pidfile, workers) if in_background else None,
            )
            return
    if slurm_jobs:
        raise GuildError("--slurm-jobs can only be used with a sweep")
    if batch_comment or edit_batch_comment:
        click.echo("WARNING: operation is not a batch - ignoring batch comment", err=True)
    if opt_flags:
        name, _, val = opt_flags[0].partition("=")
        raise GuildError("invalid optimizer flag %s=%s: no optimizer specified" % (name, val))
    if max_trials is not None:
        click.echo("WARNING: not a batch run - ignoring --max-trials", err=True)
    if stage_trials:
        raise GuildError("cannot stage trials for a non-batch operation")
    if print_trials:
        raise GuildError("cannot print trials for a non-batch operation")
    if save_trials:
        raise GuildError("cannot save trials for a non-batch operation")
    if print_cmd:
        click.echo(planlib.print_cmd(plan))
        return
    if plan.restart is not None:
        action = "start %s (%s)" % (plan.restart.id, plan.op_name) if not stage else "stage"
    else:
        action = "stage" if stage else "run"
        # Upstream runs are part of the run's identity: chosen before the needed check.
        _resolve_deps(plan, build_deps, scheduler_host, scheduler_port, force_deps)
    prepare = lambda p: _confirm(p, action, yes)  # noqa: E731

    temp_pidfile = None
    if background and not pidfile and not stage:
        # As Guild does: a pidfile in the temp dir, named in the start message; removed when the run ends.
        import tempfile

        fd, temp_pidfile = tempfile.mkstemp(prefix="guild-pid-")
        os.close(fd)
        pidfile = temp_pidfile
    on_created = None
    if plan.upstream or plan.skipped_optional or plan.restart is not None or (plan.opdef is not None and plan.opdef.file_requires):
        from luigi_guild.run import deps

        resolved = deps.resolutions(plan, stage)
        plan.dep_notes = {}  # placing warnings follow their Resolving lines, as in Guild
        on_created = lambda _run, _plan: _echo_resolutions(resolved, _plan.dep_notes)  # noqa: E731
    opts = RunOptions(
        needed=needed,
        stage=stage,
        run_id=run_id if plan.restart is None else None,
        run_dir=run_dir,
        keep_run=keep_run,
        echo=not quiet,
        background=background or bool(pidfile),
        pidfile=pidfile,
        prepare=prepare,
        on_created=on_created,
    )
    if run_dir:
        click.echo("Run directory is '%s' (results will not be visible to Guild)" % run_dir, err=True)
    try:
        outcome = pipeline.execute(plan, opts)
    finally:
        if temp_pidfile and os.path.exists(temp_pidfile) and os.path.getsize(temp_pidfile) == 0:
            os.remove(temp_pidfile)  # nothing started (skipped, declined, failed to start)
    _report(outcome, plan, quiet, pidfile, run_dir)


def _report(
    outcome: Outcome, plan: planlib.RunPlan, quiet: bool, pidfile: str | None, run_dir: str | None = None
) -> None:
    """Say what the pipeline did, as Guild says it; a failed run exits with its code."""
    run = outcome.run
    if outcome.kind == OutcomeKind.SKIPPED:
        _echo_skip(outcome.matches)
    elif outcome.kind == OutcomeKind.UNCHANGED:
        click.echo("Skipping run because flags have not changed (--needed specified)")
    elif outcome.kind == OutcomeKind.STAGED:
        assert run is not None
        if run_dir:
            click.echo("%s staged in '%s'" % (plan.op_name, run_dir))
            click.echo(
                "To start the operation, use \"(cd %s && source .guild/ENV && %s)\""
                % (shlex.quote(run_dir), " ".join(shlex.quote(a) for a in plan.cmd()))
            )
            return
        click.echo("%s staged as %s" % (plan.op_name, run.id))
        click.echo("To start the operation, use 'guild run --start %s'" % run.id)
    elif outcome.kind == OutcomeKind.STARTED:
        assert run is not None
        if not quiet:
            suffix = " (pidfile %s)" % pidfile if pidfile else ""
            click.echo("%s started in background as %s%s" % (plan.op_name, run.id, suffix))
    else:
        sys.stdout.flush()
        if not outcome.ok:
            raise SystemExit(outcome.exit_code)


def _echo_resolutions(resolved: list[Resolution], notes: dict[str, list[str]] | None = None) -> None:
    """Guild's lines for the dependencies of a run that starts (stderr, also with --quiet)."""
    from luigi_guild.run import deps

    for line in deps.report_lines(resolved, notes):
        click.echo(line, err=True)


def _resolve_deps(
    plan: planlib.RunPlan, build_deps: bool, scheduler_host: str | None, scheduler_port: int | None,
    force_deps: bool = False,
) -> None:
    """Find (or with --build-deps, first build) the runs a guild.yml operation requires."""
    if plan.opdef is None or not plan.opdef.requires:
        return
    from luigi_guild.run import deps

    if build_deps:
        _build_deps(plan, scheduler_host, scheduler_port)
    for unmet in deps.resolve(plan, force=force_deps):
        click.echo("WARNING: a dependency was not met: %s" % unmet, err=True)


def _build_deps(plan: planlib.RunPlan, scheduler_host: str | None, scheduler_port: int | None) -> None:
    from luigi_guild.run import deps

    if plan.opdef is None or not plan.opdef.requires:
        return
    from luigi_guild.tasks import scheduling
    from luigi_guild.tasks.operation import OperationTask

    sched = scheduling.scheduler_for(scheduler_host, scheduler_port)
    scheduling.check_reachable(sched)
    task = OperationTask(operation=plan.opdef.name, flags=plan.flags, project_dir=plan.opdef.project_dir)
    missing = [t for t in task.requires() if not t.complete()]
    if not missing:
        return
    result = scheduling.build(missing, sched)
    if not result.scheduling_succeeded:
        failed = [t.operation for t in missing if not t.complete()]
        if failed:
            raise deps.DependencyError(
                "run failed because a dependency was not met: %s did not complete" % ", ".join(failed)
            )


def _queue(flags: dict, yes: bool, background: bool, pidfile: str | None, quiet: bool,
           scheduler_host: str | None, scheduler_port: int | None) -> None:
    """``guild run queue [FLAG=VAL...]``: start staged runs here, or in the background.

    With a central scheduler (``--scheduler-host/--scheduler-port`` or
    luigi.cfg) the queue takes staged runs through luigid.
    """
    import os

    from luigi_guild.sweeps import queue as queuelib

    from luigi_guild.tasks import scheduling

    sched = scheduling.scheduler_for(scheduler_host, scheduler_port)
    scheduling.check_reachable(sched)  # before the queue run is made

    def make_queue(run: queuelib.Run) -> queuelib.Queue:
        if not sched.central:
            return queuelib.Queue(run, flags)
        from luigi_guild.tasks.queue import LuigiQueue

        return LuigiQueue(run, flags, sched)

    if not yes:
        lines = ["You are about to run queue"]
        lines += ["  %s: %s" % (k, "unspecified" if v is None else flagslib.format_val(v)) for k, v in flags.items()]
        click.echo("\n".join(lines), err=True)
        if not confirm("Continue?", default=True):
            raise SystemExit(exitcodes.OK)
    run = queuelib.create_queue_run(flags)
    if not background:
        make_queue(run).serve()
        return
    from luigi_guild.run.background import start_detached

    def serve_detached() -> int:
        # The detached child's output goes to the queue run's own output file.
        fd = os.open(run.guild_path("output"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
        return make_queue(run).serve()

    start_detached(run, serve_detached, pidfile)
    if not quiet:
        suffix = " (pidfile %s)" % pidfile if pidfile else ""
        click.echo("queue started in background as %s%s" % (run.id, suffix))


def _show_trials(plan: planlib.RunPlan, spec: SweepSpec, force_flags: bool, save_path: str | None) -> None:
    """``--print-trials`` (a table on stdout) or ``--save-trials PATH``: nothing is run or kept."""
    from luigi_guild.sweeps import driver as sweeps
    from luigi_guild.sweeps import trials as triallib

    if save_path:
        triallib.check_trials_path(save_path)
    _optimizer, trials, _seed = sweeps.plan_trials(plan, spec, force_flags)
    if save_path:
        click.echo("Saving trials to %s" % save_path)
        triallib.save_trials(save_path, trials)
    else:
        echo_table(triallib.trial_table(trials))


def _print_trial_cmds(plan: planlib.RunPlan, spec: SweepSpec, force_flags: bool) -> None:
    """``--print-cmd`` for a sweep, as Guild prints it: the batch's command, then each trial's, one a line."""
    import dataclasses

    from luigi_guild.sweeps import driver as sweeps
    from luigi_guild.sweeps.batch import batch_cmd

    _optimizer, trials, _seed = sweeps.plan_trials(plan, spec, force_flags)
    click.echo(shlex.join(batch_cmd()))
    for values in trials:
        click.echo(planlib.print_cmd(dataclasses.replace(plan, flags=values)))


def _sweep_preview(
    plan: planlib.RunPlan, optimizer: str, count: int, spec: SweepSpec | None = None, stage_trials: bool = False,
    restart: str | None = None, stage: bool = False,
) -> list[str]:
    """What a sweep will do, as Guild says it before asking to continue (``restart``: the batch's id)."""
    action = "stage trials for" if stage_trials else "start" if restart else "stage" if stage else "run"
    subject = "%s (%s)" % (restart, plan.op_name) if restart else plan.op_name
    if spec is not None and spec.objective is not None:
        from luigi_guild.sweeps import learners

        learner = learners.learner_class(optimizer)
        shown = "%s:%s" % (learner.model, learner.name) if learner is not None else optimizer  # skopt:gp, as Guild
        lines = ["You are about to %s %s with %s optimizer (%d trial%s, %s)" % (
            "start" if restart else "stage" if stage else "run", subject, shown, count, "" if count == 1 else "s",
            spec.objective.describe())]
        lines += ["  %s: %s" % (k, flagslib.format_val(v)) for k, v in plan.flags.items()]
        lines.append("Optimizer flags:")
        lines += ["  %s: %s" % (k, flagslib.format_val(v)) for k, v in spec.opt_flags.items()]
        return lines
    if optimizer == "grid":
        head = "You are about to %s %s as a batch (%d trial%s)" % (action, subject, count, "" if count == 1 else "s")
    elif optimizer == "random":
        head = "You are about to %s %s with random search (%d trial%s)" % (action, subject, count, "" if count == 1 else "s")
    else:
        head = "You are about to %s %s with %s optimizer (%d trial%s)" % (
            "start" if restart else "stage" if stage else "run", subject, optimizer, count, "" if count == 1 else "s")
    return [head] + ["  %s: %s" % (k, flagslib.format_val(v)) for k, v in plan.flags.items()]


def _sweep(
    plan: planlib.RunPlan,
    spec: SweepSpec,
    opts: SweepOptions,
    yes: bool,
    scheduler_host: str | None,
    scheduler_port: int | None,
    slurm_jobs: str | None = None,
    batch: Run | None = None,
    background: tuple[str | None, int] | None = None,
) -> None:
    """Run a sweep; ``batch`` is a batch run to start again.

    ``background`` (pidfile, workers): the batch is created here, then run by a detached child.
    """
    from luigi_guild.run.executors import Executor, PoolExecutor
    from luigi_guild.sweeps import driver as sweeps

    planned = sweeps.plan_trials(plan, spec, opts.force_flags)
    optimizer, trials, _seed = planned
    if opts.needed:
        # As Guild: a kept batch of this sweep (same optimizer, same prototype flags) skips it all.
        kept = sweeps.kept_batches(plan, spec, optimizer)
        if batch is not None and any(r.id == batch.id for r in kept):
            click.echo("Skipping run because flags have not changed (--needed specified)")
            return
        if kept:
            _echo_skip(kept)
            return
    if not yes:
        count = len(trials) if spec.objective is None else (spec.max_trials or 20)
        click.echo("\n".join(_sweep_preview(plan, optimizer, count, spec, opts.stage_trials,
                                             restart=batch.id if batch is not None else None,
                                             stage=opts.stage_batch and background is None)), err=True)
        if not confirm("Continue?", default=True):
            raise SystemExit(exitcodes.OK)
    # Slurm jobs (a sweep driven on a cluster's shared home) run each batch of trials as a job array.
    # A central scheduler (option or luigi.cfg) shares trials between processes: Luigi's executor.
    # Otherwise threads of this process run the trials (no process forked per trial).
    executor: Executor
    if slurm_jobs:
        from luigi_guild.remote.slurm import SweepJobs
        from luigi_guild.remote.slurm_sweep import SlurmExecutor

        executor = SlurmExecutor(SweepJobs.decode(slurm_jobs), echo=not opts.quiet)
    elif scheduler_host is None and scheduler_port is None and not _may_have_luigi_config():
        executor = PoolExecutor(workers=opts.workers)  # no central scheduler can be configured: Luigi not imported
    else:
        from luigi_guild.tasks import scheduling

        if scheduling.scheduler_for(scheduler_host, scheduler_port).central:
            from luigi_guild.tasks.executor import LuigiExecutor

            executor = LuigiExecutor(scheduler_host, scheduler_port, workers=opts.workers)
        else:
            executor = PoolExecutor(workers=opts.workers)
    result = sweeps.run_sweep(plan, spec, opts, planned, executor, batch=batch)
    sys.stdout.flush()
    if background is not None:
        _start_batch_in_background(result.batch, opts, background[0], background[1], scheduler_host, scheduler_port)
        return
    if opts.stage_batch:
        click.echo("%s staged as %s" % (result.batch.op_name, result.batch.id))
        click.echo("To start the operation, use 'guild run --start %s'" % result.batch.id)
        return
    if result.interrupted:
        raise SystemExit(exitcodes.for_signal(result.interrupted))
    if result.fail_code:
        # --fail-on-trial-error: the command exits with the failed trial's status, as Guild's does.
        raise SystemExit(result.fail_code)
    if result.not_run:
        raise GuildError("%d of %d trials were not run" % (result.not_run, result.total))


def _start_batch_in_background(
    batch: Run, opts: SweepOptions, pidfile: str | None, workers: int,
    scheduler_host: str | None, scheduler_port: int | None,
) -> None:
    """``--background`` for a sweep: a detached child runs the (just created) batch; its trials'
    lines and output go to the batch's output. As under Guild, the batch is kept."""
    import tempfile

    from luigi_guild.run.background import start_detached
    from luigi_guild.sweeps import restart as batch_restart

    temp_pidfile = None
    if not pidfile:
        fd, temp_pidfile = tempfile.mkstemp(prefix="guild-pid-")
        os.close(fd)
        pidfile = temp_pidfile

    def run_batch() -> int:
        try:
            restarting = batch_restart.plan_batch_restart(batch, {}, keep_batch=True)
            _restart_batch(restarting, opts.needed, True, False, workers, True, opts.fail_on_trial_error,
                           scheduler_host, scheduler_port)
        except SystemExit as e:
            return e.code if isinstance(e.code, int) else 1
        except GuildError:
            return 1
        return 0

    try:
        start_detached(batch, run_batch, pidfile)
    finally:
        if temp_pidfile and os.path.exists(temp_pidfile) and os.path.getsize(temp_pidfile) == 0:
            os.remove(temp_pidfile)
    if not opts.quiet:
        # Guild names the batch by its own operation here (``+``, ``skopt:gp``).
        click.echo("%s started in background as %s (pidfile %s)" % (batch.opref.display, batch.id, pidfile))


def _restart_batch(
    restarting: Any, needed: bool, yes: bool, print_cmd: bool, workers: int, quiet: bool,
    fail_on_trial_error: bool, scheduler_host: str | None, scheduler_port: int | None,
) -> None:
    """``guild run --restart BATCH``: the batch's sweep again, in the batch (see :mod:`luigi_guild.sweeps.restart`)."""
    from luigi_guild.sweeps import driver as sweeps

    if print_cmd:
        _print_trial_cmds(restarting.plan, restarting.spec, True)
        return
    opts = sweeps.SweepOptions(
        needed=needed,
        fail_on_trial_error=fail_on_trial_error,
        keep_batch=restarting.keep,
        workers=workers,
        quiet=quiet,
        label=restarting.label,
        tags=list(restarting.tags or []),
        force_flags=True,
        stage_trials=restarting.stage_trials,
    )
    _sweep(restarting.plan, restarting.spec, opts, yes, scheduler_host, scheduler_port,
           batch=restarting.batch)


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
    sweep_args: list[str],
) -> None:
    """``guild run ... -r REMOTE``: check locally, ship the project, run and watch remotely."""
    from luigi_guild.remote.base import RemoteRunRequest, remote_for

    target = remote_for(remote)
    req = RemoteRunRequest(
        opspec=opspec,
        flag_args=flag_args,
        restart=restart,
        needed=needed,
        stage=stage,
        no_wait=no_wait,
        label=label,
        tags=list(tags),
        force_flags=force_flags,
        sweep_args=sweep_args,
    )
    if restart:
        if opspec:
            raise GuildError("OPERATION cannot be used with --restart")
        if not yes:
            click.echo("You are about to start %s on %s" % (restart, remote), err=True)
            if not confirm("Continue?", default=True):
                raise SystemExit(exitcodes.OK)
    else:
        opdef = _remote_opdef(opspec)
        plan = planlib.plan_new(opspec, assigns, force_flags=force_flags, label=label, tags=list(tags), opdef=opdef)
        if not yes:
            lines = ["You are about to %s %s on %s" % ("stage" if stage else "run", plan.op_name, remote)]
            lines += ["  %s: %s" % (k, flagslib.format_val(v)) for k, v in plan.flags.items()]
            click.echo("\n".join(lines), err=True)
            if not confirm("Continue?", default=True):
                raise SystemExit(exitcodes.OK)
        from luigi_guild.remote import package as packagelib

        click.echo("Building package", err=True)
        req.package = packagelib.build(plan.project_dir or ".")
    code = target.run(req)
    if code:
        raise SystemExit(code)


def _sweep_args(
    optimizer: str | None, optimize: bool, opt_flags: tuple[str, ...], minimize: str | None, maximize: str | None,
    max_trials: int | None, random_seed: int | None, workers: int, fail_on_trial_error: bool, keep_batch: bool,
    quiet: bool,
) -> list[str]:
    """The sweep options of ``guild run`` for a sweep driven where a remote's Guild home is."""
    args: list[str] = ["--optimizer", optimizer] if optimizer else ["--optimize"] if optimize else []
    for flag in opt_flags:
        args += ["--opt-flag", flag]
    for opt, val in (("--minimize", minimize), ("--maximize", maximize), ("--max-trials", max_trials),
                     ("--random-seed", random_seed)):
        if val is not None:
            args += [opt, str(val)]
    args += ["--workers", str(workers)]
    args += [opt for opt, given in (("--fail-on-trial-error", fail_on_trial_error), ("--keep-batch", keep_batch),
                                    ("--quiet", quiet)) if given]
    return args


def _remote_opdef(opspec: str | None) -> OpDef:
    """The guild.yml operation to run remotely; scripts are refused."""
    import os

    from luigi_guild.project import operations

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


def _echo_skip(matches: list) -> None:
    click.echo("Skipping because the following runs match this operation (--needed specified):")
    echo_table(run_rows(matches, numbered=False, with_dir=False), indent="  ")


def _confirm(plan: planlib.RunPlan, action: str, yes: bool) -> None:
    if yes:
        return
    lines = ["You are about to %s %s" % (action, plan.op_name)]
    lines += ["  %s: %s" % (k, flagslib.format_val(v)) for k, v in plan.flags.items()]
    click.echo("\n".join(lines), err=True)
    if not confirm("Continue?", default=True):
        raise SystemExit(exitcodes.OK)


def _test_output_scalars(opspec: str | None, project_dir: str | None, path: str) -> None:
    """Print each input line and what each output-scalar pattern of the operation finds in it."""
    import os

    from luigi_guild.model import outputscalars
    from luigi_guild.project import operations

    opdef = operations.resolve(opspec, project_dir)
    config = opdef.output_scalars
    if config is False:
        click.echo("Output scalars disabled, nothing to test", err=True)
        return
    if path == "-":
        if sys.stdin.isatty():
            click.echo("Type patterns and press Enter to test. Use Ctrl-c or empty line to exit.")
            lines = iter(lambda: sys.stdin.readline().rstrip("\n"), "")
            for out in outputscalars.test_lines(lines, config):
                click.echo(out)
            return
        for out in outputscalars.test_lines(sys.stdin, config):
            click.echo(out)
        return
    if not os.path.exists(path):
        raise GuildError("%s does not exist" % path)
    try:
        with open(path, "rb") as f:
            data = f.read().split(b"\n")
    except OSError as e:
        raise GuildError("cannot read %s: %s" % (path, e.strerror or e)) from None
    if data and data[-1] == b"":
        data.pop()
    for out in outputscalars.test_lines(data, config):
        click.echo(out)


def _test_sourcecode(opspec: str | None, project_dir: str | None) -> None:
    """``--test-sourcecode``: the rules, then the files a run would copy and the ones it would skip."""
    from luigi_guild.project import operations, sourcecode

    sel = sourcecode.for_opdef(operations.resolve(opspec, project_dir))
    shown_root = os.path.relpath(sel.root)
    if os.path.abspath(sel.root) == os.path.abspath(os.getcwd()):
        click.echo("Copying from the current directory")
    else:
        click.echo("Copying from '%s'" % shown_root)
    click.echo("Rules:")
    for rule in sel.rules:
        click.echo("  %s" % rule)
    if sel.disabled:
        click.echo("Source code copy disabled")
        return
    selected: list[str] = []
    skipped: list[str] = []
    for d in sourcecode.walk(sel):
        shown = os.path.relpath(os.path.join(shown_root, d.path)) + ("/" if d.is_dir else "")
        (selected if d.selected else skipped).append(shown)
    click.echo("Selected for copy:")
    for path in selected:
        click.echo(click.style("  " + path, fg="yellow"))
    click.echo("Skipped:")
    for path in skipped:
        click.echo(click.style("  " + path, dim=True))


_TEST_FLAG_ATTRS = ("default", "type", "required", "arg-name", "arg-skip", "arg-switch", "arg-split", "arg-encoding",
                    "env-name", "env-encoding", "choices", "allow-other", "distribution", "max", "min", "null-label")


def _test_flag_val(val: Any) -> str:
    """A flag attribute as ``--test-flags`` shows it: empty for unset, ``yes``/``no``, lists inline."""
    if val is None:
        return ""
    if isinstance(val, bool):
        return "yes" if val else "no"
    if isinstance(val, list):
        return "[%s]" % ", ".join(_test_flag_val(v) for v in val)
    shown = flagslib.format_val(val)
    if isinstance(val, str) and " " in val and flagslib.format_val(val.replace(" ", "_")) == val.replace(" ", "_"):
        return val  # plain words: YAML needs no quotes
    return shown


def _test_flags_lines(opdef: OpDef) -> list[str]:
    """``--test-flags``: the operation's flags dest and each flag's resolved attributes."""
    lines = ["flags-dest: %s" % opdef.flags_dest, "flags-import:", "flags:"]
    for name, fd in opdef.flags.items():
        attrs: dict[str, Any] = {
            "default": fd.default, "type": fd.type, "required": fd.required, "arg-name": fd.arg_name,
            "arg-skip": fd.arg_skip or None, "arg-switch": fd.arg_switch,
            "choices": list(fd.choices or []), "allow-other": bool(fd.extra.get("allow-other", False)),
            "max": fd.max, "min": fd.min,
        }
        lines.append("  %s:" % name)
        for attr in _TEST_FLAG_ATTRS:
            shown = _test_flag_val(attrs.get(attr, fd.extra.get(attr)))
            lines.append("    %s:%s" % (attr, " " + shown if shown else ""))
    return lines


def _editor() -> str | None:
    """The user's editor: $VISUAL, else $EDITOR, else the system's ``editor`` (click picks when None)."""
    return os.environ.get("VISUAL") or os.environ.get("EDITOR") or (
        "/usr/bin/editor" if os.path.exists("/usr/bin/editor") else None
    )


def _edit(text: str, extension: str) -> str:
    try:
        edited = click.edit(text, editor=_editor(), extension=extension)
    except click.ClickException as e:
        raise GuildError(e.format_message()) from None
    return text if edited is None else edited


def _edit_comment(initial: str | None, run_type: str) -> str:
    """``-ec``/``-ebc``: the comment typed in the editor (``#`` lines left out); an empty one aborts."""
    text = "\n".join([
        initial or "",
        "# Write a comment for the %s above. Lines that start with '#' are left out." % run_type,
        "# Leaving it empty stops the command.",
    ])
    edited = _edit(text, ".GUILD_COMMENT")
    comment = "\n".join(line for line in edited.splitlines() if not line.startswith("#")).strip()
    if not comment:
        click.echo("Aborting due to an empty comment.", err=True)
        raise SystemExit(1)
    return comment


def _edit_flags(plan: planlib.RunPlan, force_flags: bool) -> None:
    """``-e``: the plan's flags as YAML in the editor; the edited values replace them (checked again)."""
    if not plan.flags:
        return
    import yaml

    lines = ["# Flags for %s: change values, then save and quit." % plan.op_name, ""]
    for name, val in sorted(plan.flags.items()):
        lines.append(yaml.safe_dump({name: val}, default_flow_style=True, width=10**6).strip()[1:-1])
        fd = plan.opdef.flags.get(name) if plan.opdef is not None else None
        if fd is not None and fd.description:
            lines.append("  # " + fd.description)
    text = "\n".join(lines) + "\n"
    while True:
        edited = _edit(text, ".yml")
        if not edited.strip():
            return
        try:
            values = yaml.safe_load(edited)
            if not isinstance(values, dict):
                raise ValueError("expected NAME: VALUE lines")
        except (yaml.YAMLError, ValueError) as e:
            problem = getattr(e, "problem", None) or str(e)  # YAML's own line (not its multi-line context)
            click.echo("Error reading flags: %s" % problem, err=True)
            if not confirm("Would you like to re-edit these flags?", default=True):
                raise SystemExit(1)
            text = edited
            continue
        break
    values = {str(k): v for k, v in values.items()}
    if plan.opdef is not None:
        values = flagslib.resolve_values(plan.opdef.flags, values, force_flags=force_flags, op_name=plan.op_name)
    changed = {k: v for k, v in values.items() if plan.flags.get(k, object()) != v}
    plan.flags = values
    plan.user_flags = {k: values[k] for k in sorted(set(plan.user_flags) | set(changed)) if k in values}
    plan.relabel()


# Where Luigi reads its configuration (luigi.configuration: the cfg parser's files, the toml
# parser's, and the file named by LUIGI_CONFIG_PATH); relative names are in the current directory.
_LUIGI_CONFIG_FILES = ("/etc/luigi/client.cfg", "/etc/luigi/luigi.cfg", "client.cfg", "luigi.cfg",
                       "/etc/luigi/luigi.toml", "luigi.toml")


def _may_have_luigi_config() -> bool:
    """Whether a Luigi configuration file could name a central scheduler (importing Luigi to read
    it costs a sweep a few hundred milliseconds of CPU)."""
    return bool(os.environ.get("LUIGI_CONFIG_PATH")) or any(os.path.exists(p) for p in _LUIGI_CONFIG_FILES)
