"""``guild compare`` on a terminal opens the interactive table (tabview) and quits on ``q``."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import time

import pytest

PROJECT = os.path.join(os.path.dirname(__file__), "samples", "projects", "results")
GUILD = os.path.join(os.path.dirname(sys.executable), "guild")


def _read_until(fd: int, want: bytes, timeout: float) -> bytes:
    out = b""
    end = time.time() + timeout
    while time.time() < end and want not in out:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                data = os.read(fd, 65536)
            except OSError:
                break
            if not data:
                break
            out += data
    return out


def test_interactive_table_on_a_terminal(tmp_path):
    env = {**os.environ, "GUILD_HOME": str(tmp_path), "TERM": "xterm", "LINES": "24", "COLUMNS": "120"}
    subprocess.run([GUILD, "run", "train", "--run-id", "tui1", "-y", "-q"], cwd=PROJECT, env=env, check=True)
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child
        os.chdir(PROJECT)
        os.execve(GUILD, [GUILD, "compare"], env)
    try:
        screen = _read_until(fd, b"completed", 30)
        assert b"tui1" in screen and b"train" in screen and b"completed" in screen
        time.sleep(0.3)
        os.write(fd, b"q")
        end = time.time() + 20
        status = None
        while time.time() < end:
            _read_until(fd, b"\0", 0.2)  # keep draining the pty
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
        else:
            pytest.fail("guild compare did not quit on 'q'")
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        os.close(fd)


def test_piped_output_is_the_plain_table(tmp_path):
    env = {**os.environ, "GUILD_HOME": str(tmp_path)}
    subprocess.run([GUILD, "run", "train", "--run-id", "p1", "-y", "-q"], cwd=PROJECT, env=env, check=True)
    out = subprocess.run([GUILD, "compare", "-r", "-cc", "loss"], cwd=PROJECT, env=env, capture_output=True, text=True)
    assert out.stdout.splitlines() == ["run  loss", "p1   0.333332"]
