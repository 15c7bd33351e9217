"""Signals to parallel sweeps and Ctrl-C on ``watch`` (issue 18, item 4), with real processes.

SIGTERM or SIGHUP to ``guild run`` of a ``--workers 2`` sweep reaches the
running trials: they read ``terminated``, no process is left running, no
further trial starts, and ``guild run`` exits 128 + signal. Ctrl-C (SIGINT to
the whole process group, as a terminal sends it) on a sweep or on ``guild
watch`` exits 130 without ``Aborted!``.
"""

from __future__ import annotations

import os
import signal
import subprocess

import pytest

from reliability_fixtures import guild, start_guild, wait_for
from luigi_guild.store.rundir import Run, pid_alive


def _runs(home: str) -> list[Run]:
    root = os.path.join(home, "runs")
    try:
        names = os.listdir(root)
    except FileNotFoundError:
        return []
    return [Run(n, os.path.join(root, n)) for n in names if not n.startswith(".")]


def _trials(home: str) -> list[Run]:
    return [r for r in _runs(home) if r.op_name == "sleepy.py"]


def _running_trials(home: str, n: int) -> list[int] | None:
    """The script pids of ``n`` running trials once they all said ``ready``."""
    trials = [t for t in _trials(home) if t.status == "running"]
    if len(trials) < n:
        return None
    pids = []
    for t in trials:
        try:
            with open(t.guild_path("output"), "rb") as f:
                if b"ready" not in f.read():
                    return None
        except OSError:
            return None
        pid = t.lock_pid()
        if pid is None:
            return None
        pids.append(pid)
    return pids


def _sweep(home: str) -> subprocess.Popen:
    return start_guild(
        ["run", "-y", "sleepy.py", "seconds=[60,61,62,63]", "--workers", "2"], home, start_new_session=True
    )


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_signal_to_parallel_sweep_reaches_running_trials(sig: int, tmp_path) -> None:
    home = str(tmp_path / "home")
    proc = _sweep(home)
    try:
        pids = wait_for(lambda: _running_trials(home, 2), "two trials running")
        proc.send_signal(sig)  # to guild run alone, as `kill PID` does
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 128 + sig, out
    assert "Traceback" not in out, out
    trials = _trials(home)
    assert len(trials) == 2, "a trial started after the signal"
    assert sorted(t.status for t in trials) == ["terminated", "terminated"], out
    assert sorted(t.get("exit_status") for t in trials) == [-sig, -sig]
    assert not [p for p in pids if pid_alive(p)], "a trial's script is still running"
    # Nothing of the sweep's process group is left either.
    with pytest.raises(ProcessLookupError):
        os.killpg(proc.pid, 0)
    (batch,) = [r for r in _runs(home) if r.op_name.endswith("+")]
    assert batch.status == "terminated"


def test_ctrl_c_on_parallel_sweep_exits_130(tmp_path) -> None:
    home = str(tmp_path / "home")
    proc = _sweep(home)
    try:
        pids = wait_for(lambda: _running_trials(home, 2), "two trials running")
        os.killpg(proc.pid, signal.SIGINT)  # a terminal's Ctrl-C reaches the whole group
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, out
    # The scripts' own KeyboardInterrupt tracebacks are theirs; none comes from guild.
    assert "Aborted" not in out and "luigi_guild/cli.py" not in out and "site-packages/luigi" not in out, out
    assert sorted(t.status for t in _trials(home)) == ["terminated", "terminated"]
    assert not [p for p in pids if pid_alive(p)]


def test_ctrl_c_on_watch_exits_130(tmp_path) -> None:
    home = str(tmp_path / "home")
    assert guild(["run", "-y", "--background", "sleepy.py", "seconds=60"], home).returncode == 0
    pid = wait_for(lambda: _running_trials(home, 1), "the run running")[0]
    watch = start_guild(["watch"], home, start_new_session=True)
    try:
        assert watch.stdout is not None
        assert "ready" in watch.stdout.readline() + watch.stdout.readline()
        os.killpg(watch.pid, signal.SIGINT)
        out, _ = watch.communicate(timeout=30)
    finally:
        if watch.poll() is None:
            os.killpg(watch.pid, signal.SIGKILL)
            watch.wait()
        os.kill(pid, signal.SIGTERM)
    assert watch.returncode == 130, out
    assert "Aborted" not in out and "Traceback" not in out, out
