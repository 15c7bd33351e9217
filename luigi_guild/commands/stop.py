"""``guild stop`` (also ``guild runs stop``): stop running runs."""

from __future__ import annotations

import sys
from typing import Any

import click

from luigi_guild.commands.completion import complete_runs
from luigi_guild.commands.common import note, nothing_to, preview_and_confirm
from luigi_guild.commands.filters import filter_options, selected_runs
from luigi_guild.commands.remote_opt import forward, remote_option
from luigi_guild.model.errors import GuildError


@click.command("stop")
@click.argument("runs", metavar="[RUN...]", nargs=-1, shell_complete=complete_runs)
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--force", is_flag=True, help="Kill (SIGKILL) processes still alive after the timeout.")
@click.option(
    "--timeout", type=float, default=30.0, show_default=True, metavar="SECONDS",
    help="How long to wait for the processes to exit.",
)
@click.option(
    "-n", "--no-wait", is_flag=True,
    help="Send the stop signal and return at once, without waiting for the runs to stop.",
)
@remote_option
@filter_options
def stop(
    runs: tuple[str, ...], yes: bool, force: bool, timeout: float, remote: str | None, no_wait: bool = False,
    **kw: Any,
) -> None:
    """Stop running runs.

    Sends SIGTERM to each run's process and its children. The process that
    started the run records the exit status (-15) and the run reads
    `terminated`. Without RUN, every running run is stopped.

    With `--no-wait` the signal is sent and the command returns at once; the
    runs read `terminated` when their processes have exited.

    RUN is a run ID, an ID prefix, a 1-based index into the filtered list or a
    START:END slice.
    """
    from luigi_guild.run import stop as stopper

    if remote:
        forward(click.get_current_context(), remote, ["stop"])
        return
    if not runs:
        kw["status_running"] = True
    selected = [r for r in selected_runs(kw, runs, [":"], "stop") if not r.remote]
    if not selected:
        nothing_to("Nothing to stop.")
        return
    preview_and_confirm(selected, "You are about to stop the following runs:", "Stop {count} run(s)?", yes, False)
    survivors: list[int] = []
    for run in selected:
        if not stopper.stoppable(run):
            click.echo("Run %s is not running" % run.id)
            continue
        note("Stopping %s (pid %s)" % (run.id, run.lock_pid()))
        result = stopper.stop_run(run, force=force, timeout=timeout, no_wait=no_wait)
        survivors += result.survivors
        if not result.survivors and not no_wait:
            stopper.wait_unlocked(run, result.parent)
    if survivors:
        sys.stdout.write(
            "The following processes did not stop as expected: %s\n" % ", ".join(str(p) for p in survivors)
        )
        raise GuildError("%d process(es) still running" % len(survivors))
