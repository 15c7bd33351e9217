"""The ``slurm`` remote kind: runs staged on a cluster's shared Guild home and started by Slurm jobs.

Config::

    remotes:
      cluster:
        type: slurm
        host: login.example.org        # optional: without it Slurm's commands run on this host
        user: alice                    # host, user, port, private-key, known-hosts: as for ssh
        guild-home: /shared/alice/.guild   # required, absolute, on the shared file system
        venv-path: /shared/alice/env   # this program's venv there (also used by the jobs)
        partition: gpu                 # the rest is what each job asks for
        time: "2:00:00"                # Slurm's time format
        cpus: 4                        # --cpus-per-task
        mem: 16G
        sbatch-options: [--gres=gpu:1, --account=ml]
        slurm-conf: /etc/slurm/other.conf   # optional: SLURM_CONF for Slurm's commands

guild.yml may override ``partition``, ``time``, ``cpus``, ``mem`` and
``sbatch-options`` per operation under ``slurm:``.

The shared home is reached like a ``local`` remote (no ``host``) or an
``ssh`` one (``host``), so listing, ``runs info``, ``ls``, ``cat``,
``watch``, ``pull`` and ``push`` are theirs; before any of them the runs'
Slurm jobs are looked up and their states written into the runs
(:func:`luigi_guild.remote.slurm.settle_plan`). ``run`` stages a run with the
remote's ``guild run --stage``, writes the job script into the run directory
and submits it as one job; a sweep runs its driver there instead, whose
executor submits each batch of trials as a job array
(:mod:`luigi_guild.remote.slurm_sweep`); ``stop`` cancels jobs with ``scancel``.
"""

from __future__ import annotations

import os
import posixpath
import shlex
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Mapping, Optional, Sequence

from luigi_guild.model.errors import GuildError
from luigi_guild.remote import slurm
from luigi_guild.remote.actions import (
    GuildHomeRemote, _echo_captured, _note, _out, remote_run_args, request_run_args,
)
from luigi_guild.remote.base import RemoteRunRequest, register
from luigi_guild.remote.config import RemoteConfig, as_str, config_dir, local_path, opt_str, parse_remote
from luigi_guild.remote.host import RemoteResult, last_line, strerror
from luigi_guild.remote.local_kind import LocalConfig, LocalHome

if TYPE_CHECKING:  # pragma: no cover
    from luigi_guild.model.opref import OpRef
    from luigi_guild.remote.host import GuildHost

POLL_SECONDS = 0.5


@dataclass(frozen=True)
class SlurmConfig:
    """A validated ``slurm`` remote: where the shared home is and what jobs ask for."""

    name: str
    guild_home: str
    settings: slurm.JobSettings
    ssh: Optional[RemoteConfig] = None
    venv_path: Optional[str] = None
    slurm_conf: Optional[str] = None
    description: str = ""
    config_path: Optional[str] = None

    @property
    def where(self) -> str:
        return self.ssh.address if self.ssh is not None else "this host"


def parse_slurm(name: str, section: Mapping[str, Any], config_path: Optional[str] = None) -> SlurmConfig:
    """Validate one resolved ``remotes:`` entry of type ``slurm`` (nothing is contacted)."""
    raw_home = opt_str(section.get("guild-home"))
    if raw_home is None:
        raise GuildError("remote %s is missing required config: guild-home" % name)
    settings = slurm.read_settings("remote %s" % name, section)
    venv = opt_str(section.get("venv-path", section.get("guild-env")))
    ssh: Optional[RemoteConfig] = None
    if opt_str(section.get("host")) is not None:
        if not raw_home.startswith("/"):
            raise GuildError("remote %s: guild-home must be an absolute path on the cluster (got %s)" % (name, raw_home))
        if venv is not None and not venv.startswith("/"):
            raise GuildError("remote %s: venv-path must be an absolute path on the cluster (got %s)" % (name, venv))
        keys = ("host", "user", "port", "private-key", "connect-timeout", "known-hosts", "host-key-check", "proxy")
        ssh_section = {k: section[k] for k in keys if k in section}
        ssh = parse_remote(name, dict(ssh_section, type="ssh", **{"guild-home": raw_home}), config_path)
        if venv is not None:
            ssh = replace(ssh, venv_path=venv)
        guild_home = raw_home
    else:
        base = config_dir(config_path)
        guild_home = local_path(raw_home, base) or raw_home
        venv = local_path(venv, base) if venv else None
    return SlurmConfig(
        name=name,
        guild_home=guild_home,
        settings=settings,
        ssh=ssh,
        venv_path=venv,
        slurm_conf=opt_str(section.get("slurm-conf")),
        description=as_str(section.get("description")),
        config_path=config_path,
    )


class SlurmSite:
    """The shared home's host plus Slurm's commands there (a shell on the host)."""

    def __init__(self, config: SlurmConfig, host: "GuildHost[Any]") -> None:
        self.config = config
        self.host = host

    @property
    def name(self) -> str:
        return self.config.name

    def error(self, message: str) -> GuildError:
        return GuildError("remote %s: %s" % (self.name, message))

    def sh(self, script: str, timeout: float = 120) -> RemoteResult:
        """Run a shell script where Slurm's commands are (SLURM_CONF set when configured)."""
        if self.config.slurm_conf:
            script = "export SLURM_CONF=%s\n%s" % (shlex.quote(self.config.slurm_conf), script)
        run_shell = getattr(self.host, "run_shell", None)
        if run_shell is not None:  # over SSH
            result: RemoteResult = run_shell(script, timeout=timeout, check=False)
            return result
        try:
            proc = subprocess.run(
                ["/bin/sh", "-c", script], capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
            )
        except subprocess.TimeoutExpired:
            raise self.error("command timed out after %g seconds" % timeout) from None
        except OSError as e:
            raise self.error("cannot run /bin/sh: %s" % strerror(e)) from None
        return RemoteResult(proc.returncode, proc.stdout, proc.stderr)

    def check_slurm(self, partition: Optional[str]) -> None:
        """Slurm answers here, and ``partition`` (if any) is one of its partitions."""
        names = self.partitions()
        if partition and partition not in names:
            raise self.error("unknown Slurm partition '%s' (partitions: %s)" % (partition, ", ".join(names)))

    def partitions(self) -> list[str]:
        """Slurm's partition names, sorted (raises when Slurm does not answer)."""
        res = self.sh("sinfo --noheader --format=%R")
        if res.exit_code == 127:
            raise self.error("Slurm's commands are not installed on %s (sinfo not found)" % self.config.where)
        if res.exit_code != 0:
            raise self.error("cannot reach Slurm: %s" % slurm.sbatch_error(res.stderr or res.stdout))
        return sorted({ln.strip() for ln in res.stdout.splitlines() if ln.strip()})

    def check_job(self, settings: slurm.JobSettings) -> None:
        """Slurm would take a job with ``settings`` (``sbatch --test-only``: checked, nothing submitted)."""
        argv = ["sbatch", "--test-only", "--output=/dev/null", *settings.sbatch_args(), "--wrap=true"]
        res = self.sh("cd / && " + slurm.quote_argv(argv))
        if res.exit_code == 127:
            raise self.error("Slurm's commands are not installed on %s (sbatch not found)" % self.config.where)
        if res.exit_code != 0:
            # Worded as the submission itself would word the refusal.
            reason = slurm.sbatch_error(res.stderr or res.stdout).replace("allocation failure: ", "Batch job submission failed: ", 1)
            raise self.error("sbatch refused the job: %s" % reason)

    def write(self, files: Mapping[str, str]) -> None:
        if not files:
            return
        res = self.sh(slurm.write_files_script(files))
        if res.exit_code != 0:
            raise self.error("cannot write into the shared home%s" % last_line(res.stderr))

    def settle(self) -> dict[str, slurm.JobState]:
        """Write Slurm's view into the runs it still tracks; returns their job states by run id."""
        home = self.config.guild_home
        res = self.sh(slurm.settle_script(home))
        if res.exit_code != 0:
            raise self.error("cannot reach Slurm: %s" % slurm.sbatch_error(res.stderr or res.stdout))
        states, tracked, here = slurm.parse_settle(res.stdout)
        if not tracked:
            return {}
        slurm.whole_array_states(states, [r.job_id for r in tracked])
        missing = [r.job_id for r in tracked if r.job_id not in states]
        if missing:  # forgotten by squeue: ask accounting, if the cluster keeps it
            acct = self.sh(slurm.sacct_script(missing))
            if acct.exit_code == 0:
                states.update({k: v for k, v in slurm.parse_sacct(acct.stdout).items() if k in missing})
        plan = slurm.settle_plan(home, tracked, states, int(time.time() * 1_000_000), here, self.name)
        script = plan.script()
        if script:
            out = self.sh(script)
            if out.exit_code != 0:
                raise self.error("cannot record job states%s" % last_line(out.stderr))
        return {r.run_id: states[r.job_id] for r in tracked if r.job_id in states}

    def submit(self, run_ids: Sequence[str], settings: slurm.JobSettings, activate: Optional[str], job_name: str) -> str:
        """Write the job script into each staged run and submit them as one job (a job array for several).

        Each run gets its job id (``J`` or ``J_TASK``) in ``attrs/slurm_job``;
        returns the job id. Raises a one-line error when Slurm refuses.
        """
        home = self.config.guild_home
        script = slurm.job_script(home, run_ids, activate, self.config.slurm_conf)
        paths = {rid: posixpath.join(slurm.run_dir(home, rid), ".guild", slurm.JOB_SCRIPT) for rid in run_ids}
        self.write({p: script for p in paths.values()})
        # A run submitted again (--start/--restart) is tracked afresh.
        self.sh("rm -f" + "".join(
            " " + shlex.quote(posixpath.join(slurm.run_dir(home, rid), ".guild", slurm.FINAL_MARKER)) for rid in run_ids
        ))
        argv = slurm.sbatch_argv(settings, paths[run_ids[0]], home, job_name, len(run_ids))
        res = self.sh(slurm.quote_argv(argv))
        if res.exit_code == 127:
            raise self.error("Slurm's commands are not installed on %s (sbatch not found)" % self.config.where)
        job = slurm.parse_sbatch(res.stdout) if res.exit_code == 0 else None
        if job is None:
            reason = slurm.sbatch_error(res.stderr or res.stdout)
            if "partition" in reason.lower():
                raise self.error("unknown Slurm partition '%s': %s" % (settings.partition or "", reason))
            raise self.error("sbatch refused the job: %s" % reason)
        jobs = [job] if len(run_ids) == 1 else ["%s_%d" % (job, i) for i in range(len(run_ids))]
        self.write(
            {
                posixpath.join(slurm.run_dir(home, rid), ".guild", "attrs", slurm.JOB_ATTR): "'%s'\n" % jid
                for rid, jid in zip(run_ids, jobs)
            }
        )
        return job

    def cancel(self, job_ids: Sequence[str]) -> None:
        """``scancel`` the jobs (array tasks); raises a one-line error when Slurm refuses."""
        if not job_ids:
            return
        res = self.sh("scancel " + slurm.quote_argv(list(job_ids)))
        if res.exit_code != 0:
            raise self.error("scancel failed: %s" % slurm.sbatch_error(res.stderr or res.stdout))

    def remove_runs(self, run_ids: Sequence[str]) -> None:
        if run_ids:
            self.sh(slurm.remove_runs_script(self.config.guild_home, run_ids))

    def wait_started(self, run_id: str) -> Optional[slurm.JobState]:
        """Wait while the run's job is queued and the run not yet started by it.

        Returns the job's state (None when Slurm no longer knows it).
        """
        staged = shlex.quote(posixpath.join(slurm.run_dir(self.config.guild_home, run_id), ".guild", "STAGED"))
        said = False
        started = time.monotonic()
        while True:
            st = self.settle().get(run_id)
            if st is None or st.final:
                return st
            if not st.pending and self.sh("[ ! -e %s ]" % staged).exit_code == 0:
                return st
            if st.pending and not said and time.monotonic() - started > 3:  # say so when it is a wait
                _note("Waiting for Slurm to start job %s (%s)" % (st.job_id, st.describe()))
                said = True
            time.sleep(POLL_SECONDS)


@register("slurm")
class SlurmRemote(GuildHomeRemote[SlurmConfig]):
    """A Slurm cluster: runs staged on its shared Guild home and started by Slurm jobs."""

    parse_config = staticmethod(parse_slurm)
    runs_sweep_driver = True

    @classmethod
    def location(cls, section: Mapping[str, Any]) -> str:
        host = as_str(section.get("host"))
        return host or as_str(section.get("guild-home"))

    def describe(self) -> str:
        return "slurm via %s, Guild home %s" % (self.config.where, self.config.guild_home)

    def where(self) -> str:
        return self.config.where

    def status_details(self, host: "GuildHost[Any]") -> list[tuple[str, str]]:
        """Slurm must answer too: its partitions are a ``-v`` detail."""
        return [("partitions", ", ".join(SlurmSite(self.config, host).partitions()))]

    def open(self) -> "GuildHost[Any]":
        c = self.config
        if c.ssh is not None:
            from luigi_guild.remote.ssh import RemoteHost

            return RemoteHost(c.ssh)
        return LocalHome(LocalConfig(name=c.name, guild_home=c.guild_home, venv_path=c.venv_path, config_path=c.config_path))

    def _activate(self) -> Optional[str]:
        venv = self.config.venv_path
        return posixpath.join(venv, "bin", "activate") if venv else None

    # ------------------------------------------------------------- commands

    def forward(
        self,
        args: Sequence[str],
        env: Optional[Mapping[str, str]] = None,
        merge_stderr: bool = False,
        stdin: bool = True,
    ) -> int:
        with self.open() as host:
            site = SlurmSite(self.config, host)
            site.settle()
            if args and args[0] == "stop":
                code = self._stop(site, list(args[1:]))
                if code is not None:
                    return code
            sys.stdout.flush()
            result = host.run(list(args), env=env, stream=True, merge_stderr=merge_stderr, stdin=stdin)
        return result.exit_code

    def list_runs(self) -> list[Any]:
        from luigi_guild.remote.actions import list_runs

        with self.open() as host:
            SlurmSite(self.config, host).settle()
            return list_runs(host)

    def pull(self, specs: Sequence[str], confirm: Any = None, filters: Sequence[str] = (), delete: bool = False) -> int:
        with self.open() as host:
            SlurmSite(self.config, host).settle()
        return super().pull(specs, confirm, filters, delete)

    def _stop(self, site: SlurmSite, args: list[str]) -> Optional[int]:
        """Cancel the Slurm jobs of the runs ``guild stop ARGS`` selects; None when none has a live job."""
        yes = False
        select_args: list[str] = []
        it = iter(args)
        for a in it:
            if a in ("-y", "--yes"):
                yes = True
            elif a == "--force":
                continue
            elif a == "--timeout":
                next(it, None)
            elif a.startswith("--timeout="):
                continue
            else:
                select_args.append(a)
        if not select_args:  # like 'guild stop' without RUN: every run still running, or queued
            select_args = ["--running", "--staged"]
        res = site.host.run(["select", "--all", *select_args])
        if res.exit_code != 0:
            return None
        ids = [ln.strip() for ln in res.stdout.splitlines() if ln.strip()]
        track = site.sh(slurm.tracked_runs_script(self.config.guild_home))
        jobs = {r.run_id: r.job_id for r in slurm.parse_tracked(track.stdout)}
        live = [(rid, jobs[rid]) for rid in ids if rid in jobs]
        if not live:
            return None
        if not yes:
            sys.stdout.write("You are about to cancel the Slurm jobs of the following runs:\n")
            for rid, job in live:
                sys.stdout.write("  %s  (job %s)\n" % (rid[:8], job))
            sys.stdout.flush()
            answer = input("Cancel %d job(s)? (Y/n) " % len(live)).strip().lower()
            if answer not in ("", "y", "yes"):
                return 0
        for rid, job in live:
            _note("Stopping %s (Slurm job %s)" % (rid, job))
        site.cancel([job for _, job in live])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            states = site.settle()
            if all(rid not in states or states[rid].final for rid, _ in live):
                break
            time.sleep(POLL_SECONDS)
        return 0

    # ------------------------------------------------------------------ run

    def run(self, req: RemoteRunRequest) -> int:
        """Stage the run (each trial of a sweep) on the shared home and submit it as a Slurm job (array)."""
        with self.open() as host:
            site = SlurmSite(self.config, host)
            if self._is_sweep(req):
                return self._drive_sweep(site, req)
            staged = self._submit_with(site, req)
            if not staged or req.stage or req.no_wait:
                return 0
            for rid in staged:
                self._follow(site, rid)
        return 0

    def submit(self, req: RemoteRunRequest) -> list[str]:
        """Stage and submit ``req`` without following it; the ids of the runs queued (none when ``--needed`` skipped all)."""
        with self.open() as host:
            return self._submit_with(SlurmSite(self.config, host), req)

    def settle(self) -> dict[str, slurm.JobState]:
        """Write Slurm's view into the shared home's runs (see :meth:`SlurmSite.settle`)."""
        with self.open() as host:
            return SlurmSite(self.config, host).settle()

    def local_home(self) -> Optional[str]:
        """The shared Guild home as a path on this machine, or None when it is reached over SSH."""
        return self.config.guild_home if self.config.ssh is None else None

    def needed_runs(self, opref: "OpRef", flags: Mapping[str, Any]) -> list[str]:
        """Ids of the shared home's runs of ``opref`` with equal flags, completed or terminated (Guild's ``--needed``).

        Slurm's view is settled first, so a run Slurm killed is not a match.
        With the home on this machine the run index answers; otherwise the
        remote's run list and the candidates' ``flags`` attrs are read over SSH.
        """
        from luigi_guild.model.flagid import canonical, flags_equal
        from luigi_guild.model.opref import OpRef
        from luigi_guild.model.yamlutil import decode
        from luigi_guild.remote.actions import list_runs

        wanted = canonical(dict(flags))
        with self.open() as host:
            site = SlurmSite(self.config, host)
            site.settle()
            home = self.local_home()
            if home is not None:
                from luigi_guild.store import query

                return [r.id for r in query.needed(opref, wanted, posixpath.join(home, "runs"))]
            candidates = []
            for r in list_runs(host):
                try:
                    same = OpRef.parse(str(r.data.get("opref") or "")) == opref
                except ValueError:
                    same = False
                if same and r.status in ("completed", "terminated"):
                    candidates.append(r.id)
            if not candidates:
                return []
            runs_dir = shlex.quote(posixpath.join(self.config.guild_home, "runs"))
            script = "cd %s || exit 1\nfor r in %s; do echo \"@@ $r\"; cat \"$r/.guild/attrs/flags\" 2>/dev/null; done" % (
                runs_dir, " ".join(shlex.quote(c) for c in candidates)
            )
            res = site.sh(script)
            if res.exit_code != 0:
                raise site.error("cannot read runs in %s%s" % (self.config.guild_home, last_line(res.stderr)))
        found: list[str] = []
        for block in res.stdout.split("@@ ")[1:]:
            run_id, _, text = block.partition("\n")
            try:
                run_flags = decode(text) if text.strip() else {}
            except Exception:  # noqa: BLE001 - an unreadable flags attr is no match
                continue
            if isinstance(run_flags, dict) and flags_equal(canonical(run_flags), wanted):
                found.append(run_id.strip())
        return found

    def _submit_with(self, site: SlurmSite, req: RemoteRunRequest) -> list[str]:
        name = self.name
        host = site.host
        settings = self._job_settings(req)
        trials = [list(req.flag_args)]
        site.check_slurm(settings.partition)
        if req.package is not None:
            _note("Copying package to %s" % name)
            host.put_archive(
                req.package.project_dir,
                posixpath.join(host.guild_home, req.package.remote_dir),
                members=list(req.package.files),
            )
        staged = self._stage(site, req, trials)
        if not staged:
            return []
        if req.stage:
            for rid in staged:
                _out("%s staged on %s as %s" % (req.opspec or rid, name, rid))
            return staged
        job = self._submit(site, req, settings, staged)
        if len(staged) == 1:
            _out("%s queued on %s as Slurm job %s" % (staged[0], name, job))
        else:
            _out("%d trials queued on %s as Slurm job array %s" % (len(staged), name, job))
        if req.no_wait:
            _out("To watch use 'guild watch %s -r %s'" % (staged[0], name))
        return staged

    def _drive_sweep(self, site: SlurmSite, req: RemoteRunRequest) -> int:
        """A sweep: its driver runs where the shared home is and submits each batch of trials as a job array.

        The driver is ``guild run`` there with the sweep options and
        ``--slurm-jobs`` (:class:`luigi_guild.remote.slurm_sweep.SlurmExecutor`),
        so the sweep has its batch run as a local one does; its output is
        shown here; returns its exit code. With ``--no-wait`` the driver goes
        on in the background once the first batch is queued.
        """
        assert req.package is not None
        settings = self._job_settings(req)
        site.check_slurm(settings.partition)
        site.check_job(settings)  # a job Slurm refuses fails here, before a batch run is made
        _note("Copying package to %s" % self.name)
        site.host.put_archive(
            req.package.project_dir,
            posixpath.join(site.host.guild_home, req.package.remote_dir),
            members=list(req.package.files),
        )
        jobs = slurm.SweepJobs.of(self.name, self.config.guild_home, settings, self._activate(), self.config.slurm_conf,
                                  "guild-%s" % (req.opspec or "run").replace(":", "-"), detach=req.no_wait)
        args = ["run", "--yes", "--project-dir", req.package.remote_dir, "--package", req.package.name,
                *req.sweep_args, "--slurm-jobs", jobs.encode()]
        if req.stage:
            args.append("--stage-trials")
        args += request_run_args(req)
        sys.stdout.flush()
        return site.host.run(args, in_guild_home=True, stream=True).exit_code

    def _job_settings(self, req: RemoteRunRequest) -> slurm.JobSettings:
        settings = self.config.settings
        if req.restart or req.package is None:
            return settings
        from luigi_guild.project import guildfile

        path = os.path.join(req.package.project_dir, "guild.yml")
        if not os.path.isfile(path):
            return settings
        section = guildfile.op_section(path, req.opspec, "slurm")
        if section is None:
            return settings
        if not isinstance(section, dict):
            raise GuildError("error in %s: 'slurm' for operation %s must be a mapping" % (path, req.opspec))
        return slurm.read_settings("operation %s" % req.opspec, section, settings)

    def _is_sweep(self, req: RemoteRunRequest) -> bool:
        """Whether ``req`` is a sweep: an optimizer, or flag values that expand to trials (lists, ranges)."""
        if req.restart or req.package is None:
            return False
        if "--optimizer" in req.sweep_args or "--optimize" in req.sweep_args:
            return True
        from luigi_guild.model import flags as flagslib
        from luigi_guild.run import plan as planlib
        from luigi_guild.sweeps.trials import is_sweep

        assigns = flagslib.parse_assigns([a for a in req.flag_args if not a.startswith("@")])
        plan = planlib.plan_new(req.opspec, assigns, force_flags=req.force_flags, cwd=req.package.project_dir)
        return is_sweep(plan.flags)

    def _stage(self, site: SlurmSite, req: RemoteRunRequest, trials: list[list[str]]) -> list[str]:
        """Stage each run on the shared home; returns their ids (trials ``--needed`` skips are left out)."""
        if req.restart:
            return [self._resolve_run(site, req.restart)]
        staged: list[str] = []
        for flag_args in trials:
            run_id = uuid.uuid4().hex
            one = replace(req, flag_args=flag_args, stage=True)
            if len(trials) > 1:
                _note("Staging trial %s on %s as %s" % (" ".join(flag_args), self.name, run_id))
            else:
                _note("Staging %s on %s as %s" % (req.opspec, self.name, run_id))
            try:
                result = site.host.run(remote_run_args(one, run_id), in_guild_home=True)
            except BaseException:
                site.remove_runs(staged + [run_id])
                raise
            if result.exit_code != 0:
                site.remove_runs(staged + [run_id])
                _echo_captured(result.stdout, result.stderr)
                raise SystemExit(result.exit_code)
            if req.needed and result.stdout.startswith("Skipping"):
                _echo_captured(result.stdout, result.stderr)
                continue
            staged.append(run_id)
        return staged

    def _resolve_run(self, site: SlurmSite, spec: str) -> str:
        """The full id of the shared home's run ``spec`` (an id, prefix or index), checked as a plain name."""
        from luigi_guild.run.create import check_run_id

        result = site.host.run(["select", spec])
        if result.exit_code != 0:
            lines = [ln for ln in (result.stderr or result.stdout).splitlines() if ln.strip()]
            first = lines[0] if lines else "could not find a run matching '%s'" % spec
            raise site.error(first[len("guild: "):] if first.startswith("guild: ") else first)
        run_id = result.stdout.strip()
        try:
            check_run_id(run_id)
        except GuildError:
            raise site.error("listed an invalid run ID %r" % run_id) from None
        return run_id

    def _submit(self, site: SlurmSite, req: RemoteRunRequest, settings: slurm.JobSettings, run_ids: list[str]) -> str:
        """Write the job script into each run and submit one job (array); undoes the staging on failure."""
        try:
            return site.submit(run_ids, settings, self._activate(), "guild-%s" % (req.opspec or "run").replace(":", "-"))
        except BaseException:
            if not req.restart:
                site.remove_runs(run_ids)
            raise

    def _follow(self, site: SlurmSite, run_id: str) -> None:
        """Wait while the job is queued, then show the run's output until it stops."""
        try:
            st = site.wait_started(run_id)
            sys.stdout.flush()
            if st is not None and st.final and st.state != "COMPLETED" and st.state != "FAILED":
                _out("Slurm job for %s ended: %s" % (run_id, st.describe()))
                return
            site.host.run(["watch", run_id], env={"NO_WATCHING_MSG": "1"}, stream=True, merge_stderr=True)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                st = site.settle().get(run_id)
                if st is None or st.final:
                    break
                time.sleep(POLL_SECONDS)
            if st is not None and st.state in slurm.KILLED_STATES:
                _out("Slurm ended the job of %s: %s" % (run_id, st.describe()))
        except KeyboardInterrupt:
            _note("Detached from %s (its Slurm job goes on)" % run_id)
            _note("To re-attach use 'guild watch %s -r %s'" % (run_id, self.name))
