"""Sweeps on Slurm: an executor that stages each batch of trials in the shared home and submits it as one job array.

A sweep on a Slurm remote (``guild run OP x=[1,2] -r cluster``, ``-o tpe``...) runs the sweep driver
(:mod:`luigi_guild.sweeps.driver`) where the shared Guild home is (the login
host, or this host), with :class:`SlurmExecutor` as its executor: each batch
the driver hands over (as many trials as ``--workers`` for an optimizer that
learns; every trial for grid and random search) is staged, linked to the
batch run, submitted as one Slurm job (array), and waited for; then the
driver reads the trials' objectives from their runs and asks for the next
batch. The cluster, shared home and job settings reach the driver as
:class:`luigi_guild.remote.slurm.SweepJobs`, JSON in ``guild run``'s hidden
``--slurm-jobs`` option.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from types import FrameType
from typing import Any, Optional, Sequence

from luigi_guild.model.errors import GuildError
from luigi_guild.model.outcome import Outcome, OutcomeKind
from luigi_guild.model.status import Status
from luigi_guild.remote import slurm
from luigi_guild.remote.slurm import SweepJobs
from luigi_guild.run import pipeline
from luigi_guild.run.executors import Executor, Job, register
from luigi_guild.store.rundir import Run

_STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)
POLL_SECONDS = 0.5
OUTPUT_LIMIT = 1 << 20  # at most this much of a trial's output is shown when it ends


@register
class SlurmExecutor(Executor):
    """Stages a batch of jobs, submits them as one Slurm job array, and waits until each has ended."""

    name = "slurm"
    in_order = False  # a chunk is one job array: a skipped trial does not split it

    def __init__(self, jobs: SweepJobs, echo: bool = True) -> None:
        self.jobs = jobs
        self.echo = echo
        self.detached = False

    def _site(self) -> Any:
        from luigi_guild.remote.local_kind import LocalConfig, LocalHome
        from luigi_guild.remote.slurm_kind import SlurmConfig, SlurmSite

        j = self.jobs
        config = SlurmConfig(name=j.remote, guild_home=j.guild_home, settings=j.settings, slurm_conf=j.slurm_conf)
        return SlurmSite(config, LocalHome(LocalConfig(name=j.remote, guild_home=j.guild_home)))

    def execute(self, jobs: Sequence[Job]) -> list[Outcome]:
        outcomes: dict[int, Outcome] = {}
        staged: list[tuple[int, Job, Run]] = []
        site = self._site()
        try:
            for n, job in enumerate(jobs):
                outcome = pipeline.execute(job.plan, _staging_options(job))
                if outcome.kind == OutcomeKind.STAGED and outcome.run is not None:
                    staged.append((n, job, outcome.run))
                else:
                    outcomes[n] = outcome
            if not staged:
                return [outcomes[n] for n in sorted(outcomes)]
            ids = [run.id for _, _, run in staged]
            job_id = site.submit(ids, self.jobs.settings, self.jobs.activate, self.jobs.job_name)
        except BaseException:
            _unstage(site, staged)
            raise
        # Whoever reads the "queued" line may signal at once: SIGTERM/SIGHUP wait (blocked)
        # until _wait has its handlers in place, so the jobs are always cancelled.
        signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
        try:
            if len(ids) == 1:
                _out("%s queued on %s as Slurm job %s" % (ids[0], self.jobs.remote, job_id))
            else:
                _out("%d trials queued on %s as Slurm job array %s" % (len(ids), self.jobs.remote, job_id))
            batch = staged[0][1].batch
            if self.jobs.detach and not self.detached and batch:
                self._detach(batch)
        except BaseException:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
            raise
        for n, outcome in self._wait(site, staged).items():
            outcomes[n] = outcome
        return [outcomes[n] for n in sorted(outcomes)]

    def _detach(self, batch_dir: str) -> None:
        """``--no-wait``: this process returns (exit 0) and a child drives the rest of the sweep.

        The child leaves the session, writes its output to the batch run's
        ``.guild/output`` and holds the batch's ``LOCK``, so the batch reads
        ``running`` and ``guild watch BATCH`` follows it.
        """
        from luigi_guild.run.process import write_lock

        self.detached = True
        batch_id = os.path.basename(batch_dir)
        sys.stdout.flush()
        sys.stderr.flush()
        if os.fork():
            _out("Sweep %s goes on on %s (its driver runs in the background)" % (batch_id, self.jobs.remote))
            _out("To watch use 'guild watch %s -r %s'" % (batch_id, self.jobs.remote))
            os._exit(0)
        os.setsid()
        out = os.open(os.path.join(batch_dir, ".guild", "output"), os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o644)
        nothing = os.open(os.devnull, os.O_RDONLY)
        os.dup2(nothing, 0)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.close(out)
        os.close(nothing)
        write_lock(Run.for_dir(batch_dir), os.getpid())

    def _wait(self, site: Any, staged: list[tuple[int, Job, Run]]) -> dict[int, Outcome]:
        """Wait until every staged trial's job has ended; a signal or Ctrl-C cancels the jobs not ended.

        Trials are reported in the order they were staged (a trial that ends
        early waits for those before it), so the log reads in trial order.
        """
        pending = {run.id: (n, job, run) for n, job, run in staged}
        order = [run.id for _, _, run in staged]
        ended: dict[str, Run] = {}
        done: dict[int, Outcome] = {}

        def report() -> None:
            while order and order[0] in ended:
                rid = order.pop(0)
                n, job, _run = next(t for t in staged if t[2].id == rid)
                done[n] = self._finished(job, ended.pop(rid))

        def on_signal(signum: int, _frame: Optional[FrameType]) -> None:
            raise _Interrupted(signum)

        previous = {sig: signal.signal(sig, on_signal) for sig in _STOP_SIGNALS}
        try:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)  # blocked since the jobs were queued
            while pending:
                states = site.settle()
                for rid in list(pending):
                    now = Run.for_dir(pending[rid][2].path)
                    if _ended(now, states.get(rid)):
                        del pending[rid]
                        ended[rid] = now
                report()
                if pending:
                    time.sleep(POLL_SECONDS)
        except BaseException as e:
            self._cancel(site, [run for _, _, run in pending.values()])
            if isinstance(e, _Interrupted):
                from luigi_guild.run import process

                process.interrupts.append(e.signum)
                for rid, (_n, _job, run) in pending.items():
                    ended[rid] = Run.for_dir(run.path)
                report()
                state = _sweep_state(staged[0][1].batch)
                if state is not None:
                    state.request_stop(e.signum)
                return done
            raise
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return done

    def _finished(self, job: Job, run: Run) -> Outcome:
        status = run.status
        exit_status = run.get("exit_status")
        outcome = Outcome(OutcomeKind.FINISHED, run, exit_status if isinstance(exit_status, int) else 1)
        if self.detached:
            # This process's output is the batch's, to which on_finished copies the trial's output.
            sys.stdout.flush()
            if job.opts.on_finished is not None:
                job.opts.on_finished(outcome)
            _out("Run %s stopped with a status of '%s'" % (run.id, status))
            return outcome
        if self.echo:
            _show_output(run)
        _out("Run %s stopped with a status of '%s'" % (run.id, status))
        if job.opts.on_finished is not None:
            job.opts.on_finished(outcome)
        return outcome

    def _cancel(self, site: Any, runs: list[Run]) -> None:
        """Cancel the jobs of ``runs`` and wait (briefly) until Slurm's view of them is written."""
        job_ids = [str(r.get(slurm.JOB_ATTR) or "") for r in (Run.for_dir(run.path) for run in runs)]
        job_ids = [j for j in job_ids if j]
        if not job_ids:
            return
        _note("Cancelling Slurm job%s %s" % ("s" if len(job_ids) > 1 else "", ", ".join(job_ids)))
        try:
            site.cancel(job_ids)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                states = site.settle()
                if all(r.id not in states or states[r.id].final for r in runs):
                    break
                time.sleep(POLL_SECONDS)
        except GuildError as e:
            _note("WARNING: %s" % e)


def _ended(run: Run, state: Optional[slurm.JobState]) -> bool:
    """Whether the trial's job is over: Slurm's final word is recorded (or Slurm forgot the job and the run stopped)."""
    if os.path.exists(run.guild_path(slurm.FINAL_MARKER)):
        return True
    return state is None and run.status not in Status.UNFINISHED and run.status != Status.STAGED


class _Interrupted(Exception):
    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _staging_options(job: Job) -> pipeline.RunOptions:
    """Stage the trial (linked to its batch, logged as the driver logs trials); ``--needed`` still skips."""

    def on_created(run: Run, plan: Any) -> None:
        from luigi_guild.sweeps.batch import link_trial
        from luigi_guild.sweeps.trials import flags_desc

        if job.batch and os.path.isdir(job.batch):
            link_trial(job.batch, run)
        _note("Staging trial %s: %s (%s)" % (run.id, plan.op_name, flags_desc(plan.flags)))

    return pipeline.RunOptions(stage=True, claim=True, echo=False, already_done=job.opts.already_done, on_created=on_created)


def _unstage(site: Any, staged: list[tuple[int, Job, Run]]) -> None:
    """Undo staging that was not submitted: the runs and their links in the batch go."""
    for _, job, run in staged:
        link = os.path.join(job.batch, run.id) if job.batch else ""
        if link and os.path.islink(link):
            os.unlink(link)
    site.remove_runs([run.id for _, _, run in staged])


def _sweep_state(batch_dir: str) -> Any:
    from luigi_guild.sweeps.driver import state_for

    return state_for(batch_dir) if batch_dir else None


def _show_output(run: Run) -> None:
    """The trial's output (its first :data:`OUTPUT_LIMIT` bytes, read inside the run directory only)."""
    from luigi_guild.store.rundir import read_beneath

    _found, data = read_beneath(run.path, ".guild/output", OUTPUT_LIMIT)
    text = (data or b"").decode("utf-8", "replace")
    if text:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        sys.stdout.flush()


def _out(msg: str) -> None:
    sys.stdout.write(msg + "\n")
    sys.stdout.flush()


def _note(msg: str) -> None:
    sys.stdout.flush()
    sys.stderr.write(("INFO: [guild] " if not msg.startswith("WARNING") else "") + msg + "\n")
    sys.stderr.flush()
