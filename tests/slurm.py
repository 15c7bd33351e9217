"""A real single-node Slurm cluster on this machine for remote tests (pytest plugin module).

Loaded from ``tests/conftest.py`` like :mod:`sshd`. Everything lives in a
temporary directory: ``munged`` with a throwaway key and its own socket,
``slurmctld`` and ``slurmd`` with a generated ``slurm.conf`` (one node named
by ``hostname`` with this machine's CPUs and memory, partitions ``debug``
(default) and ``short``, free loopback ports, state/spool/log dirs there).
Slurm's commands find it through ``SLURM_CONF``. All three daemons are
stopped by pid at the end of the session.

There is no ``slurmdbd`` (it needs a SQL server), so ``sacct`` has no
accounting to read; the cluster keeps finished jobs for ``MinJobAge``
seconds, where ``squeue --states=all`` and ``scontrol show job`` see them.

Fixtures:

``slurm_cluster`` (session)
    A running :class:`SlurmCluster`; skipped, with the reason, when the
    Slurm or munge binaries are missing or we are not root.

``slurm_remote`` (function)
    A user config defining remote ``cluster`` (``type: slurm``, no host:
    Slurm's commands run here) with a fresh shared Guild home, and
    ``cluster-held`` (the same, jobs submitted with ``--hold``); sets
    ``GUILD_CONFIG`` and ``SLURM_CONF`` in ``os.environ`` for the duration
    and yields them for doc tests that build their own environment.

Run ``python tests/slurm.py`` to start a cluster by hand (Ctrl-C stops it).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional

import pytest

SBIN = "/usr/sbin"
BINARIES = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scancel", "scontrol", "sinfo")
LOOPBACK = "127.0.0.1"

__all__ = ["SlurmCluster", "slurm_cluster", "slurm_remote", "start_cluster", "write_slurm_config"]


@dataclass
class SlurmCluster:
    """A running single-node cluster: its directory, config and daemons."""

    workdir: Path
    conf: Path
    node: str
    cpus: int
    procs: dict[str, subprocess.Popen] = field(default_factory=dict, repr=False)

    @property
    def env(self) -> dict[str, str]:
        """Environment that points Slurm's commands at this cluster."""
        return {"SLURM_CONF": str(self.conf)}

    def command(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess:
        """Run a Slurm command against this cluster (output captured)."""
        env = dict(os.environ, **self.env)
        return subprocess.run(list(args), env=env, capture_output=True, text=True, timeout=timeout)

    def log(self, name: str) -> str:
        try:
            return (self.workdir / "log" / ("%s.log" % name)).read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        """Stop the daemons by pid (slurmd, slurmctld, munged) and wait for them."""
        for name in ("slurmd", "slurmctld", "munged"):
            proc = self.procs.pop(name, None)
            if proc is None or proc.poll() is not None:
                continue
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def missing_binaries() -> list[str]:
    """The Slurm/munge programs this fixture needs that are not installed."""
    missing = []
    for name in BINARIES:
        if not (os.access(os.path.join(SBIN, name), os.X_OK) or shutil.which(name)):
            missing.append(name)
    return missing


def _skip_unless_slurm() -> None:
    missing = missing_binaries()
    if missing:
        pytest.skip("Slurm is not installed (missing %s; apt-get install slurm-wlm munge)" % ", ".join(missing))
    if os.geteuid() != 0:
        pytest.skip("the Slurm fixture needs root (slurmd runs jobs as their user)")


def _free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((LOOPBACK, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _memory_mb() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    return 1024


def _exe(name: str) -> str:
    path = os.path.join(SBIN, name)
    return path if os.access(path, os.X_OK) else (shutil.which(name) or name)


def write_slurm_config(workdir: Path, node: str, cpus: int, memory_mb: int, ports: list[int]) -> Path:
    """Write ``workdir/slurm.conf`` for a one-node cluster; returns its path."""
    d = workdir
    lines = [
        "ClusterName=lgtest",
        "SlurmctldHost=%s(%s)" % (node, LOOPBACK),
        "SlurmUser=root",
        "SlurmdUser=root",
        "SlurmctldPort=%d" % ports[0],
        "SlurmdPort=%d" % ports[1],
        "AuthType=auth/munge",
        "CredType=cred/munge",
        "AuthInfo=socket=%s" % (d / "munge" / "munge.socket"),
        "StateSaveLocation=%s" % (d / "state"),
        "SlurmdSpoolDir=%s" % (d / "spool"),
        "SlurmctldPidFile=%s" % (d / "run" / "slurmctld.pid"),
        "SlurmdPidFile=%s" % (d / "run" / "slurmd.pid"),
        "SlurmctldLogFile=%s" % (d / "log" / "slurmctld.log"),
        "SlurmdLogFile=%s" % (d / "log" / "slurmd.log"),
        "SlurmctldDebug=info",
        "SlurmdDebug=info",
        "ProctrackType=proctrack/linuxproc",
        "TaskPlugin=task/none",
        "SwitchType=switch/none",
        "MpiDefault=none",
        "JobAcctGatherType=jobacct_gather/none",
        "AccountingStorageType=accounting_storage/none",
        "JobCompType=jobcomp/none",
        "SchedulerType=sched/builtin",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_Core",
        "ReturnToService=2",
        # sbatch refuses jobs over a partition's limits instead of queueing them forever.
        "EnforcePartLimits=ALL",
        # Finished jobs stay visible to squeue/scontrol for this long (no slurmdbd here).
        "MinJobAge=600",
        # A job over its time limit is signalled at once and killed 2 s later.
        "OverTimeLimit=0",
        "KillWait=2",
        "MessageTimeout=5",
        "SlurmctldTimeout=10",
        "SlurmdTimeout=10",
        "InactiveLimit=0",
        "NodeName=%s NodeAddr=%s CPUs=%d RealMemory=%d State=UNKNOWN" % (node, LOOPBACK, cpus, memory_mb),
        "PartitionName=debug Nodes=%s Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4" % node,
        "PartitionName=short Nodes=%s MaxTime=5 State=UP OverSubscribe=FORCE:4" % node,
        "",
    ]
    conf = d / "slurm.conf"
    conf.write_text("\n".join(lines))
    return conf


def start_cluster(workdir: Path, timeout: float = 30.0) -> SlurmCluster:
    """Start munged, slurmctld and slurmd in ``workdir``; returns once the node takes jobs."""
    _skip_unless_slurm()
    workdir = Path(workdir)
    for sub in ("munge", "state", "spool", "run", "log"):
        (workdir / sub).mkdir(parents=True, exist_ok=True)
    os.chmod(workdir / "munge", 0o700)
    key = workdir / "munge" / "munge.key"
    key.write_bytes(os.urandom(1024))
    os.chmod(key, 0o400)
    node = socket.gethostname().split(".")[0]
    cpus = os.cpu_count() or 1
    cluster = SlurmCluster(workdir=workdir, conf=Path(), node=node, cpus=cpus)
    try:
        _start(cluster, "munged", [
            _exe("munged"), "--foreground", "--force",
            "--key-file=%s" % key,
            "--socket=%s" % (workdir / "munge" / "munge.socket"),
            "--pid-file=%s" % (workdir / "run" / "munged.pid"),
            "--log-file=%s" % (workdir / "log" / "munged.log"),
            "--seed-file=%s" % (workdir / "munge" / "munge.seed"),
        ])
        _wait_for(lambda: (workdir / "munge" / "munge.socket").exists(), 10, cluster, "munged")
        cluster.conf = write_slurm_config(workdir, node, cpus, max(_memory_mb() - 512, 256), _free_ports(2))
        env = dict(os.environ, SLURM_CONF=str(cluster.conf))
        _start(cluster, "slurmctld", [_exe("slurmctld"), "-D", "-i", "-f", str(cluster.conf)], env)
        _start(cluster, "slurmd", [_exe("slurmd"), "-D", "-f", str(cluster.conf)], env)
        _wait_for(lambda: _node_ready(cluster), timeout, cluster, "slurmd")
    except BaseException:
        cluster.stop()
        raise
    return cluster


def _start(cluster: SlurmCluster, name: str, argv: list[str], env: Optional[dict[str, str]] = None) -> None:
    out = open(cluster.workdir / "log" / ("%s.stdout" % name), "ab")
    try:
        cluster.procs[name] = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    finally:
        out.close()


def _node_ready(cluster: SlurmCluster) -> bool:
    res = cluster.command("sinfo", "-h", "-N", "-o", "%T", timeout=10)
    state = res.stdout.strip().lower()
    return res.returncode == 0 and state.startswith(("idle", "mix", "alloc"))


def _wait_for(check: "object", timeout: float, cluster: SlurmCluster, name: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for pname, proc in cluster.procs.items():
            if proc.poll() is not None:
                raise RuntimeError("%s exited with %s:\n%s" % (pname, proc.returncode, _logs(cluster)))
        if check():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise RuntimeError("%s did not become ready in %gs:\n%s" % (name, timeout, _logs(cluster)))


def _logs(cluster: SlurmCluster) -> str:
    out = []
    for path in sorted((cluster.workdir / "log").glob("*")):
        text = path.read_text(errors="replace")
        out.append("== %s\n%s" % (path.name, "\n".join(text.splitlines()[-15:])))
    return "\n".join(out)


def write_slurm_remote_config(
    cluster: SlurmCluster, directory: Path, name: str = "cluster", **overrides: object
) -> Path:
    """Write ``directory/config.yml`` defining Slurm remotes ``name`` and ``NAME-held`` (shared home ``directory/shared-home``).

    ``overrides`` are extra/replacement keys (``_`` read as ``-``; ``None`` removes a key).
    """
    import yaml

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    shared = directory / "shared-home"
    shared.mkdir(exist_ok=True)
    section: dict = {
        "type": "slurm",
        "guild-home": str(shared),
        "partition": "debug",
        "time": "10:00",
        "cpus": 1,
        "description": "Single-node Slurm for tests",
    }
    if os.path.isfile(os.path.join(sys.prefix, "bin", "activate")):
        section["venv-path"] = sys.prefix
    for key, val in overrides.items():
        key = key.replace("_", "-")
        if val is None:
            section.pop(key, None)
        else:
            section[key] = val
    # The same cluster and home, but every job is submitted held: it stays pending until released.
    held = dict(section, description="Jobs held on submission", **{"sbatch-options": ["--hold"]})
    path = directory / "config.yml"
    path.write_text(yaml.safe_dump({"remotes": {name: section, name + "-held": held}}, sort_keys=False))
    return path


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlurmCluster]:
    """A real single-node Slurm cluster for the whole session (skips without Slurm/root)."""
    _skip_unless_slurm()
    # Short path: munge's socket path must fit in sockaddr_un.
    workdir = Path(tempfile.mkdtemp(prefix="slurm-"))
    cluster = start_cluster(workdir)
    try:
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def slurm_remote(slurm_cluster: SlurmCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """Config for Slurm remote ``cluster``; yields ``{"GUILD_CONFIG": ..., "SLURM_CONF": ...}``, set in os.environ."""
    directory = tmp_path_factory.mktemp("slurm-remote")
    path = write_slurm_remote_config(slurm_cluster, directory)
    env = {"GUILD_CONFIG": str(path), **slurm_cluster.env}
    with pytest.MonkeyPatch.context() as mp:  # restores the environment afterwards
        for k, v in env.items():
            mp.setenv(k, v)
        yield env


if __name__ == "__main__":  # pragma: no cover - manual use
    wd = Path(tempfile.mkdtemp(prefix="slurm-"))
    t0 = time.monotonic()
    c = start_cluster(wd)
    print("cluster up in %.1fs; export SLURM_CONF=%s" % (time.monotonic() - t0, c.conf), flush=True)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop the daemons on TERM too
    try:
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        c.stop()
