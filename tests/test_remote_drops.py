"""Dropped SSH connections (issue 18, item 3), against the real sshd of ``tests/sshd.py``.

A connection is cut by killing the server's per-connection process by pid
(a child of the sshd listener). Each command then gives one
``guild: remote guild-uat: connection lost ...`` line saying what state things
are in, never a traceback or ``Aborted!``; copies leave no archive in the
remote's /tmp and no ``.tmp-pull-*`` directory here.
"""

from __future__ import annotations

import glob
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

SAMPLES = Path(__file__).resolve().parent / "samples" / "projects"
ECHO = SAMPLES / "remote-echo"
BIG = 24 * 1024 * 1024


@pytest.fixture
def guild_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "guild-home"
    monkeypatch.setenv("GUILD_HOME", str(home))
    return home


def guild(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    p = subprocess.run([sys.executable, "-m", "luigi_guild", *args], cwd=ECHO, capture_output=True, text=True, timeout=120)
    if check:
        assert p.returncode == 0, p.stdout + p.stderr
    return p


def start(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "luigi_guild", *args], cwd=ECHO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _sessions(sshd_pid: int) -> list[psutil.Process]:
    """The sshd processes serving connections now (children of the listener)."""
    try:
        return psutil.Process(sshd_pid).children()
    except psutil.NoSuchProcess:
        return []


def _session_running(sshd_pid: int, name: str) -> list[psutil.Process]:
    """Sessions that have a process named ``name`` (e.g. the remote ``tar``) below them."""
    found = []
    for s in _sessions(sshd_pid):
        try:
            if any(p.name() == name for p in s.children(recursive=True)):
                found.append(s)
        except psutil.NoSuchProcess:
            continue
    return found


def _wait(pred, what: str, limit: float = 60.0):
    deadline = time.monotonic() + limit
    while True:
        got = pred()
        if got:
            return got
        assert time.monotonic() < deadline, "timed out waiting for " + what
        time.sleep(0.01)


def _cut(sessions: list[psutil.Process]) -> None:
    for s in sessions:
        os.kill(s.pid, signal.SIGKILL)


def _archives() -> set[str]:
    return set(glob.glob("/tmp/luigi-guild-*"))


def _no_archive_left(before: set[str]) -> None:
    """No remote archive (the remote is this host) outlives the copy.

    Other test sessions on this machine may be copying at the same moment;
    their archives come and go, so only one that stays counts.
    """
    deadline = time.monotonic() + 15
    while _archives() - before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _archives() - before


def _remote_home(env: dict) -> Path:
    return Path(env["GUILD_CONFIG"]).parent / "remote-guild-home"


def _one_line(p: subprocess.CompletedProcess | tuple, state: str) -> None:
    code, err = (p.returncode, p.stderr) if isinstance(p, subprocess.CompletedProcess) else p
    assert code == 1, err
    assert "Traceback" not in err and "Aborted" not in err, err
    lines = [ln for ln in err.splitlines() if ln.startswith("guild:")]
    assert len(lines) == 1, err
    assert lines[0].startswith("guild: remote guild-uat: connection lost"), err
    assert state in lines[0], err


def _big_remote_run(env: dict) -> str:
    guild("run", "echo", "msg=x", "-r", "guild-uat", "-y")
    (run_id,) = os.listdir(_remote_home(env) / "runs")
    with open(_remote_home(env) / "runs" / run_id / "big.bin", "wb") as f:
        f.write(os.urandom(BIG))
    return run_id


def _cut_while_copying(cmd: str, sshd_server) -> tuple[int, str]:
    """Start ``guild CMD guild-uat``, cut its connection while the remote tar runs; its exit code and stderr."""
    proc = start(cmd, "guild-uat", "-y")
    try:
        _cut(_wait(lambda: _session_running(sshd_server.pid, "tar"), "the remote tar"))
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, err


def test_pull_cut_midway(guild_uat_remote: dict, guild_home: Path, sshd_server) -> None:
    _big_remote_run(guild_uat_remote)
    before = _archives()
    _one_line(_cut_while_copying("pull", sshd_server), "no run was copied; pull again with 'guild pull guild-uat'")
    assert [n for n in os.listdir(guild_home / "runs")] == []  # nothing half-pulled, no .tmp-pull-*
    _no_archive_left(before)


def test_pull_killed_leaves_nothing_behind(guild_uat_remote: dict, guild_home: Path, sshd_server) -> None:
    _big_remote_run(guild_uat_remote)
    before = _archives()
    for sig in (signal.SIGTERM, signal.SIGKILL):
        proc = start("pull", "guild-uat", "-y")
        try:
            _wait(lambda: _session_running(sshd_server.pid, "tar"), "the remote tar")
            proc.send_signal(sig)
            proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.returncode in (128 + sig, -sig)
        if sig == signal.SIGTERM:
            assert os.listdir(guild_home / "runs") == []
    # A pull killed with SIGKILL leaves its directory; the next pull removes it.
    _wait(lambda: not _session_running(sshd_server.pid, "tar"), "the remote tar to stop")
    guild("pull", "guild-uat", "-y")
    assert [n for n in os.listdir(guild_home / "runs") if n.startswith(".")] == []
    _no_archive_left(before)


def test_push_cut_midway(guild_uat_remote: dict, guild_home: Path, sshd_server) -> None:
    guild("run", "echo", "msg=x", "-y")
    (run_id,) = os.listdir(guild_home / "runs")
    with open(guild_home / "runs" / run_id / "big.bin", "wb") as f:
        f.write(os.urandom(BIG))
    before = _archives()
    _one_line(_cut_while_copying("push", sshd_server), "runs there may be incomplete; push again with 'guild push guild-uat'")
    _no_archive_left(before)


def _cut_once_ticking(proc: subprocess.Popen, sshd_server) -> tuple[int, str]:
    """Cut ``proc``'s SSH sessions once it shows the run's output; its exit code and stderr."""
    try:
        assert proc.stdout is not None
        _wait(lambda: "tick" in proc.stdout.readline(), "the run's output")
        _cut(_sessions(sshd_server.pid))
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, err


def test_watch_cut_says_the_run_goes_on(guild_uat_remote: dict, guild_home: Path, sshd_server) -> None:
    started = guild("run", "tick", "n=300", "delay=0.1", "-r", "guild-uat", "--no-wait", "-y")
    run_id = started.stdout.split()[0]
    watch = start("watch", run_id, "-r", "guild-uat")
    _one_line(_cut_once_ticking(watch, sshd_server), "watch it again with 'guild watch %s -r guild-uat'" % run_id)
    # The run went on there.
    info = guild("runs", "info", run_id, "-r", "guild-uat")
    assert "status: running" in info.stdout or "status: completed" in info.stdout, info.stdout
    guild("stop", run_id, "-r", "guild-uat", "-y", check=False)


def _remote_run_id(line: str) -> str:
    """The run id named in a ``connection lost`` line (``... 'guild watch ID -r guild-uat' ...``)."""
    import re

    m = re.search(r"guild watch ([0-9a-f]{32}) -r guild-uat", line)
    assert m, line
    return m.group(1)


def test_run_waiting_cut_says_the_run_goes_on(guild_uat_remote: dict, guild_home: Path, sshd_server) -> None:
    """``run -r`` following the output: a cut names the run, says it goes on there and how to watch it."""
    proc = start("run", "tick", "n=300", "delay=0.1", "-r", "guild-uat", "-y")
    rc, err = _cut_once_ticking(proc, sshd_server)
    _one_line((rc, err), "the run goes on there; watch it again with 'guild watch ")
    line = next(ln for ln in err.splitlines() if ln.startswith("guild:"))
    assert "while watching run " in line, err
    run_id = _remote_run_id(line)
    info = guild("runs", "info", run_id, "-r", "guild-uat")
    assert "status: running" in info.stdout or "status: completed" in info.stdout, info.stdout
    guild("stop", run_id, "-r", "guild-uat", "-y", check=False)


def _session_starting_run(sshd_pid: int) -> list[psutil.Process]:
    """Sessions running the remote ``guild run --background`` (the start, after the package copy)."""
    found = []
    for s in _sessions(sshd_pid):
        try:
            if any("--background" in p.cmdline() for p in s.children(recursive=True)):
                found.append(s)
        except psutil.NoSuchProcess:
            continue
    return found


def test_run_no_wait_cut_while_starting(guild_uat_remote: dict, guild_home: Path, sshd_server) -> None:
    """``run -r --no-wait`` cut while the remote start runs: one line saying it may have started, how to check and watch."""
    for _attempt in range(5):  # the start takes about a second: a cut may come after it (then try again)
        proc = start("run", "tick", "n=300", "delay=0.1", "-r", "guild-uat", "--no-wait", "-y")
        try:
            sessions = _wait(lambda: _session_starting_run(sshd_server.pid) or proc.poll() is not None, "the remote start")
            if isinstance(sessions, list):
                _cut(sessions)
            out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if proc.returncode == 0:  # started before the cut: clean up and try again
            assert "To watch use 'guild watch " in out, out + err
            guild("stop", out.split()[0], "-r", "guild-uat", "-y", check=False)
            continue
        _one_line((proc.returncode, err), "it may have started there; check with 'guild runs info ")
        line = next(ln for ln in err.splitlines() if ln.startswith("guild:"))
        run_id = _remote_run_id(line)
        assert "while starting run %s" % run_id in line, err
        assert "check with 'guild runs info %s -r guild-uat'" % run_id in line, err
        guild("stop", run_id, "-r", "guild-uat", "-y", check=False)
        return
    pytest.fail("the connection was never cut while the remote start ran")
