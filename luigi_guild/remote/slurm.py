"""Talking to Slurm with its own commands: job scripts, ``sbatch`` arguments, job states and what they mean for a run.

Everything here builds shell text (every value quoted with
:func:`shlex.quote`) or reads Slurm's output; running it is the caller's
(:mod:`luigi_guild.remote.slurm_kind`), through a :data:`Shell` that runs a
script here or over the SSH remote's connection. Nothing connects or imports
Fabric.

A run submitted to Slurm carries attrs of its own in the shared Guild home:
``slurm_job`` (the job id, ``J`` or ``J_TASK`` for an array task) and
``slurm_state`` (Slurm's last known state and reason, e.g.
``TIMEOUT (TimeLimit)``). :func:`settle` reads Slurm's view and writes what it
means into the run directory, once the job has ended: a job cancelled before
it started reads ``terminated``; a job Slurm killed (time or memory limit,
node failure) reads ``error``.
"""

from __future__ import annotations

import json
import posixpath
import re
import shlex
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Mapping, Optional, Sequence

from luigi_guild.model.errors import GuildError
from luigi_guild.remote.host import RemoteResult

Shell = Callable[[str], RemoteResult]
"""Runs a POSIX shell script where Slurm's commands are; returns its exit and output (never raises on exit)."""

JOB_ATTR = "slurm_job"
STATE_ATTR = "slurm_state"
FINAL_MARKER = "SLURM_FINAL"  # in .guild/: Slurm's final word is recorded, nothing more to ask
JOB_SCRIPT = "slurm-job.sh"  # in .guild/: the script the job ran
JOB_OUTPUT = "slurm-job.out"  # in .guild/: the job's own output (the run's is in .guild/output)

# Slurm job states that are over (squeue/sacct spellings).
FINAL_STATES = frozenset(
    (
        "COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "BOOT_FAIL",
        "DEADLINE", "PREEMPTED", "SPECIAL_EXIT", "REVOKED",
    )
)
# Final states where Slurm, not the run, ended it: the run reads ``error``.
KILLED_STATES = frozenset(("TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "BOOT_FAIL", "DEADLINE", "PREEMPTED"))
PENDING_STATES = frozenset(("PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD"))

# Exit status written for a run Slurm killed with SIGTERM (a shell's 128 + signal): positive, so ``error``.
KILLED_EXIT_STATUS = 128 + 15
# Exit status written for a run cancelled before it started (killed by SIGTERM): ``terminated``.
CANCELLED_EXIT_STATUS = -15

_JOB_ID = re.compile(r"\d+(_\d+)?\Z")
_SETTING_KEYS = ("partition", "time", "cpus", "mem", "sbatch-options")


@dataclass(frozen=True)
class JobSettings:
    """What a job asks Slurm for: the remote's settings, overridden per operation (guild.yml ``slurm:``)."""

    partition: Optional[str] = None
    time: Optional[str] = None
    cpus: Optional[int] = None
    mem: Optional[str] = None
    sbatch_options: tuple[str, ...] = ()

    def sbatch_args(self) -> list[str]:
        """``sbatch`` options for these settings (unquoted argv)."""
        args: list[str] = []
        if self.partition:
            args.append("--partition=%s" % self.partition)
        if self.time:
            args.append("--time=%s" % self.time)
        if self.cpus:
            args.append("--cpus-per-task=%d" % self.cpus)
        if self.mem:
            args.append("--mem=%s" % self.mem)
        return args + list(self.sbatch_options)


def read_settings(where: str, data: Mapping[str, Any], base: Optional[JobSettings] = None) -> JobSettings:
    """Job settings from a mapping (a remote's config section or an operation's ``slurm:``) over ``base``.

    ``where`` names the source in messages (``remote cluster``, ``operation train``).
    """
    base = base or JobSettings()
    unknown = sorted(str(k) for k in data if k not in _SETTING_KEYS) if where.startswith("operation") else []
    if unknown:
        raise GuildError("%s: unknown slurm setting %s (use %s)" % (where, ", ".join(unknown), ", ".join(_SETTING_KEYS)))
    cpus = base.cpus
    val = data.get("cpus")
    if val is not None and val != "":
        if isinstance(val, bool) or not (isinstance(val, int) or str(val).isdigit()) or int(str(val)) < 1:
            raise GuildError("%s: invalid cpus %r (a whole number, 1 or more)" % (where, val))
        cpus = int(str(val))
    options = base.sbatch_options
    raw = data.get("sbatch-options")
    if raw is not None:
        if isinstance(raw, str):
            options = tuple(shlex.split(raw))
        elif isinstance(raw, list) and all(isinstance(x, (str, int, float)) for x in raw):
            options = tuple(str(x) for x in raw)
        else:
            raise GuildError("%s: sbatch-options must be a list of sbatch arguments" % where)
        for opt in options:
            if not opt.startswith("-"):
                raise GuildError("%s: invalid sbatch option %r (options start with '-')" % (where, opt))
    return JobSettings(
        partition=_opt(data.get("partition"), base.partition),
        time=_opt(data.get("time"), base.time),
        cpus=cpus,
        mem=_opt(data.get("mem"), base.mem),
        sbatch_options=options,
    )


def _opt(val: Any, default: Optional[str]) -> Optional[str]:
    if val is None or str(val) == "":
        return default
    return str(val)


@dataclass(frozen=True)
class SweepJobs:
    """Where the jobs of a sweep's trials go: the remote, its shared home, and what each job asks for."""

    remote: str
    guild_home: str
    partition: Optional[str] = None
    time: Optional[str] = None
    cpus: Optional[int] = None
    mem: Optional[str] = None
    sbatch_options: list[str] = field(default_factory=list)
    activate: Optional[str] = None
    slurm_conf: Optional[str] = None
    job_name: str = "guild-sweep"
    detach: bool = False  # --no-wait: the driver goes on in the background once the first batch is queued

    @property
    def settings(self) -> JobSettings:
        return JobSettings(self.partition, self.time, self.cpus, self.mem, tuple(self.sbatch_options))

    @classmethod
    def of(
        cls, remote: str, guild_home: str, settings: JobSettings, activate: Optional[str],
        slurm_conf: Optional[str], job_name: str, detach: bool = False,
    ) -> "SweepJobs":
        return cls(remote, guild_home, settings.partition, settings.time, settings.cpus, settings.mem,
                   list(settings.sbatch_options), activate, slurm_conf, job_name, detach)

    def encode(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def decode(cls, text: str) -> "SweepJobs":
        """Read :meth:`encode`'s JSON; a one-line error when it is not that."""
        try:
            data = json.loads(text)
            if not isinstance(data, dict):
                raise TypeError("not an object")
            jobs = cls(**data)
        except (ValueError, TypeError) as e:
            raise GuildError("invalid --slurm-jobs value: %s" % e) from None
        if not isinstance(jobs.remote, str) or not isinstance(jobs.guild_home, str) or not jobs.guild_home.startswith("/"):
            raise GuildError("invalid --slurm-jobs value: remote and an absolute guild_home are required")
        if not isinstance(jobs.sbatch_options, list) or not all(isinstance(o, str) and o.startswith("-") for o in jobs.sbatch_options):
            raise GuildError("invalid --slurm-jobs value: sbatch_options must be a list of options")
        return jobs


# ------------------------------------------------------------------ scripts


def run_dir(guild_home: str, run_id: str) -> str:
    return posixpath.join(guild_home, "runs", run_id)


def job_script(guild_home: str, run_ids: Sequence[str], activate: Optional[str], slurm_conf: Optional[str]) -> str:
    """The job script: start the staged run (an array task picks its run by ``SLURM_ARRAY_TASK_ID``).

    Its output goes to ``.guild/slurm-job.out`` in the run directory; the
    run's own output is in ``.guild/output`` as for any run.
    """
    q = shlex.quote
    lines = [
        "#!/bin/sh",
        "# Slurm job for Guild run%s %s (written by luigi-guild)." % ("s" if len(run_ids) > 1 else "", ", ".join(run_ids)),
    ]
    if len(run_ids) == 1:
        lines.append("RUN=%s" % q(run_ids[0]))
    else:
        lines.append('case "$SLURM_ARRAY_TASK_ID" in')
        lines += ["  %d) RUN=%s ;;" % (i, q(rid)) for i, rid in enumerate(run_ids)]
        lines.append('  *) echo "no run for array task $SLURM_ARRAY_TASK_ID" >&2; exit 2 ;;')
        lines.append("esac")
    home = q(guild_home)
    lines += [
        'exec >>%s/runs/"$RUN"/.guild/%s 2>&1' % (home, JOB_OUTPUT),
        'echo "Slurm job ${SLURM_ARRAY_JOB_ID:-$SLURM_JOB_ID}${SLURM_ARRAY_TASK_ID:+_$SLURM_ARRAY_TASK_ID} on $(hostname)"',
    ]
    if activate:
        lines.append(". %s || exit 127" % q(activate))
    if slurm_conf:
        lines.append("export SLURM_CONF=%s" % q(slurm_conf))
    lines += [
        "export GUILD_HOME=%s" % home,
        'cd "$GUILD_HOME" || exit 1',
        'exec guild run --yes --restart "$RUN"',
        "",
    ]
    return "\n".join(lines)


def write_files_script(files: Mapping[str, str]) -> str:
    """A script writing each ``path: text`` atomically (temp file, then rename).

    The temp file's name ends with the shell's pid, so two scripts writing the
    same file at once (two workers settling one run) never move each other's.
    """
    lines = ["set -e"]
    for path, text in files.items():
        tmp = shlex.quote(path + ".tmp-lg-") + "$$"
        lines.append("printf '%%s' %s > %s" % (shlex.quote(text), tmp))
        lines.append("mv -f %s %s" % (tmp, shlex.quote(path)))
    return "\n".join(lines)


def remove_runs_script(guild_home: str, run_ids: Sequence[str]) -> str:
    """A script deleting the run directories ``run_ids`` (the undo of a failed submission)."""
    for rid in run_ids:
        if not re.match(r"[A-Za-z0-9_-]+\Z", rid):
            raise ValueError("invalid run id %r" % rid)
    return "rm -rf" + "".join(" " + shlex.quote(run_dir(guild_home, rid)) for rid in run_ids)


def sbatch_argv(settings: JobSettings, script_path: str, guild_home: str, name: str, array_size: int) -> list[str]:
    """``sbatch`` argv for a job (``array_size`` > 1: a job array with tasks 0..N-1)."""
    argv = ["sbatch", "--parsable", "--job-name=%s" % name, "--chdir=%s" % guild_home, "--output=/dev/null"]
    if array_size > 1:
        argv.append("--array=0-%d" % (array_size - 1))
    return argv + settings.sbatch_args() + [script_path]


def quote_argv(argv: Sequence[str]) -> str:
    return " ".join(shlex.quote(a) for a in argv)


def parse_sbatch(stdout: str) -> Optional[str]:
    """The job id ``sbatch --parsable`` printed (``ID`` or ``ID;CLUSTER``), or None."""
    for line in stdout.splitlines():
        head = line.strip().split(";", 1)[0]
        if head.isdigit():
            return head
    return None


def sbatch_error(stderr: str) -> str:
    """sbatch's complaint on one line (its last ``error:`` line, prefix dropped)."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip() and not ln.strip().startswith("Try ")]
    errors = [ln for ln in lines if "error:" in ln]
    if errors:
        return errors[-1].split("error:", 1)[-1].strip()
    text = lines[0] if lines else "no reason given"
    for prefix in ("sbatch:", "squeue:", "sinfo:", "scancel:"):
        if text.startswith(prefix):
            text = text[len(prefix):].strip()
    return text


# ------------------------------------------------------------------ states


@dataclass(frozen=True)
class JobState:
    """Slurm's view of one job (or array task)."""

    job_id: str
    state: str
    reason: str = ""
    exit_code: str = ""
    nodes: str = ""

    @property
    def final(self) -> bool:
        return self.state in FINAL_STATES

    @property
    def pending(self) -> bool:
        return self.state in PENDING_STATES

    def describe(self) -> str:
        """``STATE (Reason)``, the reason left out when Slurm gives none."""
        if self.reason and self.reason not in ("None", "(null)"):
            return "%s (%s)" % (self.state, self.reason)
        return self.state


SQUEUE_FORMAT = "%i|%T|%r|%N"


def squeue_script() -> str:
    """All of this user's jobs Slurm still knows, one array task per line (``ID|STATE|REASON``)."""
    return 'squeue --noheader --array --states=all --user="$(id -un)" --format=%s' % shlex.quote(SQUEUE_FORMAT)


_ARRAY_TASKS = re.compile(r"(\d+)_\[([0-9,\-]+)(?:%\d+)?\]\Z")
_MAX_EXPANDED = 100_000


def expand_job_ids(job_id: str) -> list[str]:
    """``J_[0-2,5]`` (array tasks Slurm has not split yet, e.g. pending or cancelled before starting) as
    ``J_0, J_1, J_2, J_5``; any other id as itself."""
    m = _ARRAY_TASKS.match(job_id)
    if not m:
        return [job_id]
    ids: list[str] = []
    for part in m.group(2).split(","):
        lo, _, hi = part.partition("-")
        if not lo.isdigit() or (hi and not hi.isdigit()):
            continue
        first, last = int(lo), int(hi or lo)
        if last - first + len(ids) > _MAX_EXPANDED:
            break
        ids += ["%s_%d" % (m.group(1), i) for i in range(first, last + 1)]
    return ids


def whole_array_states(states: dict[str, JobState], job_ids: Sequence[str]) -> None:
    """Give each array task ``J_N`` of ``job_ids`` that squeue does not list the state it lists for ``J``.

    An array cancelled before Slurm split it into tasks is listed once, as ``J``.
    """
    for job_id in job_ids:
        base, sep, _task = job_id.partition("_")
        if sep and job_id not in states and base in states:
            st = states[base]
            states[job_id] = JobState(job_id, st.state, st.reason, st.exit_code, st.nodes)


def parse_squeue(stdout: str) -> dict[str, JobState]:
    jobs: dict[str, JobState] = {}
    for line in stdout.splitlines():
        parts = line.strip().split("|")
        if len(parts) < 2:
            continue
        for job_id in expand_job_ids(parts[0]):
            if _JOB_ID.match(job_id):
                reason = parts[2].strip() if len(parts) > 2 else ""
                jobs[job_id] = JobState(job_id, parts[1].strip(), reason, "", parts[3].strip() if len(parts) > 3 else "")
    return jobs


def sacct_script(job_ids: Sequence[str]) -> str:
    """Accounting records of jobs squeue no longer shows (``ID|STATE|EXIT``); fails without accounting."""
    ids = ",".join(j for j in job_ids if _JOB_ID.match(j))
    return "sacct --noheader --parsable2 --allocations --jobs=%s --format=JobID,State,ExitCode" % shlex.quote(ids)


def parse_sacct(stdout: str) -> dict[str, JobState]:
    jobs: dict[str, JobState] = {}
    for line in stdout.splitlines():
        parts = line.strip().split("|")
        if len(parts) >= 2 and _JOB_ID.match(parts[0]):
            state = parts[1].split()[0] if parts[1].split() else ""
            jobs[parts[0]] = JobState(parts[0], state, "", parts[2] if len(parts) > 2 else "")
    return jobs


# ------------------------------------------------------------------ settling


@dataclass
class TrackedRun:
    """A run in the shared home with a Slurm job whose end is not yet recorded."""

    run_id: str
    job_id: str
    staged: bool
    exit_status: Optional[int]
    state: str = ""


def tracked_runs_script(guild_home: str) -> str:
    """Lists ``RUN<TAB>JOB<TAB>STAGED<TAB>EXIT_STATUS<TAB>STATE`` for runs with an unsettled Slurm job."""
    return "\n".join(
        [
            "cd %s/runs 2>/dev/null || exit 0" % shlex.quote(guild_home),
            "for f in */.guild/attrs/%s; do" % JOB_ATTR,
            '  [ -f "$f" ] || continue',
            '  d="${f%%/.guild/*}"',
            '  [ -e "$d/.guild/%s" ] && continue' % FINAL_MARKER,
            '  s=0; [ -e "$d/.guild/STAGED" ] && s=1',
            '  x=$(cat "$d/.guild/attrs/exit_status" 2>/dev/null || true)',
            '  t=$(cat "$d/.guild/attrs/%s" 2>/dev/null || true)' % STATE_ATTR,
            '  printf "%s\\t%s\\t%s\\t%s\\t%s\\n" "$d" "$(cat "$f")" "$s" "$x" "$t"',
            "done",
        ]
    )


TRACKED_MARK = "--tracked-runs--"


def settle_script(guild_home: str) -> str:
    """Slurm's view of this user's jobs, then the tracked runs as they are *after* it (nothing when none).

    Reading the runs after Slurm answered matters: a job Slurm reports over
    has no process left that could still change its run.
    """
    listing = tracked_runs_script(guild_home).replace("\n", "\n  ")
    return "\n".join(
        [
            "tracked() {",
            "  " + listing,
            "}",
            'first=$(tracked)',
            '[ -n "$first" ] || exit 0',
            squeue_script() + " || exit $?",
            'echo "%s $(hostname -s)"' % TRACKED_MARK,
            "tracked",
        ]
    )


def parse_settle(stdout: str) -> tuple[dict[str, JobState], list[TrackedRun], str]:
    """(jobs squeue listed, tracked runs, the short host name it ran on) from :func:`settle_script`'s output."""
    head, sep, tail = stdout.partition(TRACKED_MARK + " ")
    if not sep:
        return {}, [], ""
    host, _, tail = tail.partition("\n")
    return parse_squeue(head), parse_tracked(tail), host.strip()


def parse_tracked(stdout: str) -> list[TrackedRun]:
    runs = []
    for line in stdout.splitlines():
        parts = line.split("\t")
        if len(parts) < 5:
            continue
        job = parts[1].strip().strip("'\"")
        if not _JOB_ID.match(job):
            continue
        try:
            exit_status: Optional[int] = int(parts[3].strip())
        except ValueError:
            exit_status = None
        runs.append(TrackedRun(parts[0], job, parts[2] == "1", exit_status, parts[4].strip().strip("'\"")))
    return runs


@dataclass
class Settlement:
    """Files to write into run directories so they say what Slurm says."""

    files: dict[str, str] = field(default_factory=dict)
    remove: list[str] = field(default_factory=list)
    ended: dict[str, JobState] = field(default_factory=dict)  # run id -> final state

    def script(self) -> str:
        lines = [write_files_script(self.files)] if self.files else []
        lines += ["rm -f %s" % shlex.quote(p) for p in self.remove]
        return "\n".join(lines)


def settle_plan(
    guild_home: str,
    runs: Sequence[TrackedRun],
    states: Mapping[str, JobState],
    now_us: int,
    here: str = "",
    remote: str = "slurm",
) -> Settlement:
    """What to write so each run reads Slurm's view; final states are recorded once.

    A run whose job runs on another node than ``here`` (where the shared home
    is read) gets ``.guild/LOCK.remote`` naming ``remote``: its ``LOCK`` pid
    cannot be checked from here, so it reads ``running (REMOTE)`` until the job ends.
    """
    out = Settlement()
    for r in runs:
        st = states.get(r.job_id)
        if st is None:
            continue
        guild_dir = posixpath.join(run_dir(guild_home, r.run_id), ".guild")
        attrs = posixpath.join(guild_dir, "attrs")
        desc = st.describe()
        if desc != r.state:
            out.files[posixpath.join(attrs, STATE_ATTR)] = _yaml_str(desc) + "\n"
        lock_remote = posixpath.join(guild_dir, "LOCK.remote")
        if not st.final:
            if st.state == "RUNNING" and not r.staged and st.nodes and here and st.nodes != here:
                out.files[lock_remote] = remote + "\n"
            continue
        out.remove.append(lock_remote)
        out.ended[r.run_id] = st
        exit_status: Optional[int] = None
        if r.staged:  # the job never started the run
            exit_status = CANCELLED_EXIT_STATUS if st.state == "CANCELLED" else KILLED_EXIT_STATUS
            out.remove.append(posixpath.join(guild_dir, "STAGED"))
        elif st.state in KILLED_STATES and (r.exit_status is None or r.exit_status < 0):
            exit_status = KILLED_EXIT_STATUS
        elif r.exit_status is None and st.state in ("CANCELLED", "FAILED"):
            exit_status = CANCELLED_EXIT_STATUS if st.state == "CANCELLED" else 1
        if exit_status is not None:
            out.files[posixpath.join(attrs, "exit_status")] = "%d\n" % exit_status
            out.files[posixpath.join(attrs, "stopped")] = "%d\n" % now_us
        out.files[posixpath.join(guild_dir, FINAL_MARKER)] = desc + "\n"
    return out


def _yaml_str(text: str) -> str:
    """A YAML single-quoted scalar (how our attr files hold strings that could read as something else)."""
    return "'%s'" % text.replace("'", "''")
