"""Claims and deletions (issue 18, item 5), with real processes.

* Removing ``GUILD_HOME/locks`` while a claimed run runs never lets a second
  ``--needed`` start a duplicate: the claim notices its lock file has gone,
  and a running match counts for ``--needed`` as in Guild.
* Running and staged matches make ``--needed`` skip; error runs do not.
* ``guild runs rm`` never trashes a run that a live process is starting.
* ``runs rm -p`` and ``runs purge`` killed midway leave no half-deleted run listed.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time

from reliability_fixtures import guild, guild_env, start_guild, wait_for
from luigi_guild.store.rundir import process_marker

SKIP_HEAD = "Skipping because the following runs match this operation (--needed specified):"


def _ids(home: str, sub: str = "runs") -> list[str]:
    try:
        return sorted(n for n in os.listdir(os.path.join(home, sub)) if not n.startswith("."))
    except FileNotFoundError:
        return []


def test_removing_the_locks_dir_never_allows_a_duplicate(tmp_path) -> None:
    home, gate = str(tmp_path / "home"), tmp_path / "gate"
    gate.mkdir()
    env = guild_env(home, GATE_DIR=str(gate))
    first = start_guild(["run", "gate.py", "--needed", "-y"], home, env=env)
    try:
        wait_for(lambda: (gate / "starts").exists(), "the first run to start")
        shutil.rmtree(os.path.join(home, "locks"))
        second = guild(["run", "gate.py", "--needed", "-y"], home, env=env)
        assert second.returncode == 0, second.stderr
        lines = second.stdout.splitlines()
        assert lines[0] == SKIP_HEAD and "  running  " in lines[1], second.stdout
        assert len(_ids(home)) == 1
    finally:
        (gate / "open").touch()
        first.wait(timeout=60)
    assert first.returncode == 0
    assert (gate / "starts").read_text().count("\n") == 1


def test_running_and_staged_runs_count_for_needed(tmp_path) -> None:
    home = str(tmp_path / "home")
    assert guild(["run", "--stage", "hello.py", "-y"], home).returncode == 0
    res = guild(["run", "hello.py", "--needed", "-y"], home)
    assert res.returncode == 0 and res.stdout.splitlines()[0] == SKIP_HEAD, res.stdout + res.stderr
    assert "  staged" in res.stdout
    assert len(_ids(home)) == 1
    # A plain run (no claim) that is running is a match too.
    sleeper = start_guild(["run", "sleepy.py", "-y"], home)
    try:
        wait_for(lambda: any(r for r in _ids(home) if _status(home, r) == "running"), "the sleeper running")
        res = guild(["run", "sleepy.py", "--needed", "-y"], home)
        assert res.returncode == 0 and res.stdout.splitlines()[0] == SKIP_HEAD, res.stdout + res.stderr
        assert "  running  " in res.stdout
    finally:
        sleeper.send_signal(signal.SIGTERM)
        sleeper.wait(timeout=60)
    assert len(_ids(home)) == 2


def _status(home: str, run_id: str) -> str:
    return guild(["select", run_id, "-a", "status"], home).stdout.strip()


def test_rm_never_trashes_a_starting_run(tmp_path) -> None:
    home = str(tmp_path / "home")
    assert guild(["run", "hello.py", "-y"], home).returncode == 0
    (run_id,) = _ids(home)
    # This test process is "starting" the run: PENDING names it, as guild run writes it.
    pending = os.path.join(home, "runs", run_id, ".guild", "PENDING")
    with open(pending, "w") as f:
        f.write(process_marker(os.getpid()))
    res = guild(["runs", "rm", "-y"], home)
    assert res.returncode == 0, res.stderr
    assert "run %s is starting: not deleted" % run_id in res.stderr
    assert _ids(home) == [run_id] and _ids(home, "trash/runs") == []
    os.remove(pending)
    assert guild(["runs", "rm", "-y"], home).returncode == 0
    assert _ids(home) == [] and _ids(home, "trash/runs") == [run_id]


def _big_run(home: str, n_files: int) -> str:
    assert guild(["run", "hello.py", "-y"], home).returncode == 0
    run_id = _ids(home)[0]
    data = os.path.join(home, "runs", run_id, "data")
    for d in range(n_files // 500):
        sub = os.path.join(data, "d%d" % d)
        os.makedirs(sub)
        for i in range(500):
            with open(os.path.join(sub, "f%d" % i), "w"):
                pass
    return run_id


def _kill_midway(args: list[str], home: str, root: str) -> bool:
    """Start ``guild ARGS``, SIGKILL it once it has renamed a run aside; whether it was cut midway."""
    proc = start_guild(args, home)
    try:
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            if any(n.startswith(".deleting-") for n in os.listdir(root)):
                proc.send_signal(signal.SIGKILL)
                break
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode == -signal.SIGKILL and any(n.startswith(".deleting-") for n in os.listdir(root))


def test_rm_permanent_and_purge_killed_midway_list_nothing_half_deleted(tmp_path) -> None:
    home = str(tmp_path / "home")
    runs_root = os.path.join(home, "runs")
    for attempt in range(3):
        run_id = _big_run(home, 20000)
        if _kill_midway(["runs", "rm", "-p", "-y", run_id], home, runs_root):
            break
        assert run_id not in _ids(home)
    else:
        raise AssertionError("never caught runs rm -p midway")
    listing = guild(["runs", "-a"], home)
    assert listing.returncode == 0 and run_id[:8] not in listing.stdout
    assert run_id not in _ids(home)
    # The next removal finishes what was left.
    other = _big_run(home, 500)
    assert guild(["runs", "rm", "-p", "-y", other], home).returncode == 0
    assert os.listdir(runs_root) == [] or not [n for n in os.listdir(runs_root) if n.startswith(".deleting-")]

    trash_root = os.path.join(home, "trash", "runs")
    for attempt in range(3):
        run_id = _big_run(home, 20000)
        assert guild(["runs", "rm", "-y", run_id], home).returncode == 0
        if _kill_midway(["runs", "purge", "-y", run_id], home, trash_root):
            break
    else:
        raise AssertionError("never caught runs purge midway")
    deleted = guild(["runs", "-d"], home)
    assert deleted.returncode == 0 and run_id[:8] not in deleted.stdout
    assert run_id not in _ids(home, "trash/runs")
