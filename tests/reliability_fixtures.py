"""Helpers shared by the reliability tests: run ``guild`` as a real process, snapshot runs."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Callable

HERE = os.path.dirname(os.path.abspath(__file__))
PROJECT = os.path.join(HERE, "samples", "projects", "reliability")
GUILD = [sys.executable, "-m", "luigi_guild"]


def guild_env(home: str, **extra: str) -> dict[str, str]:
    """An environment for a ``guild`` process using Guild home ``home``."""
    env = dict(os.environ)
    env.update(
        {
            "GUILD_HOME": home,
            "COLUMNS": "999",
            "PYTHONDONTWRITEBYTECODE": "1",
            "NO_PIP_FREEZE": "1",
            "NO_VCS_COMMIT": "1",
        }
    )
    env.pop("SYNC_RUN_OUTPUT", None)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env.update(extra)
    return env


def guild(
    args: list[str], home: str, cwd: str = PROJECT, env: dict[str, str] | None = None, **kw
) -> subprocess.CompletedProcess:
    """Run ``guild ARGS`` to completion; text output captured."""
    return subprocess.run(
        GUILD + list(args),
        cwd=cwd,
        env=env or guild_env(home),
        capture_output=True,
        text=True,
        timeout=120,
        **kw,
    )


def start_guild(args: list[str], home: str, cwd: str = PROJECT, env: dict[str, str] | None = None, **kw):
    """Start ``guild ARGS`` in the background (stdout piped, stderr merged)."""
    return subprocess.Popen(
        GUILD + list(args),
        cwd=cwd,
        env=env or guild_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **kw,
    )


def wait_for(pred: Callable[[], object], what: str, limit: float = 60.0, step: float = 0.02):
    """Poll ``pred`` until it returns something truthy (bounded, not a timing assertion)."""
    deadline = time.monotonic() + limit
    while True:
        val = pred()
        if val:
            return val
        if time.monotonic() > deadline:
            raise AssertionError("gave up waiting for %s" % what)
        time.sleep(step)


def run_dirs(home: str) -> list[str]:
    """Visible entries of ``runs/`` (hidden creation dirs excluded)."""
    try:
        return sorted(n for n in os.listdir(os.path.join(home, "runs")) if not n.startswith("."))
    except FileNotFoundError:
        return []


def snapshot(home: str) -> dict[str, tuple]:
    """Every path under ``runs/`` with its type, size and mtime (to prove nothing changed)."""
    root = os.path.join(home, "runs")
    snap: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            snap[os.path.relpath(path, root)] = (st.st_mode, st.st_size, st.st_mtime_ns)
    return snap


def pid_gone(pid: int) -> bool:
    """Whether ``pid`` no longer names a live (non-zombie) process."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except FileNotFoundError:
        return True
    return stat[stat.rfind(")") + 2] == "Z"


def flock_waiters(path: str) -> int:
    """How many processes are blocked in flock() on the file at ``path`` (from /proc/locks)."""
    try:
        inode = os.stat(path).st_ino
    except FileNotFoundError:
        return 0
    count = 0
    with open("/proc/locks") as f:
        for line in f:
            parts = line.split()
            if "->" in parts and any(p.endswith(":%d" % inode) for p in parts):
                count += 1
    return count


def needed_lock_file(home: str) -> str | None:
    """The one ``needed-*`` claim file under ``home/locks``, if there is exactly one."""
    try:
        names = [n for n in os.listdir(os.path.join(home, "locks")) if n.startswith("needed-")]
    except FileNotFoundError:
        return None
    return os.path.join(home, "locks", names[0]) if len(names) == 1 else None
