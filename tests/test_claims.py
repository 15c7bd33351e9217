"""Concurrent ``--needed`` starts: one run, the rest wait and skip (separate processes)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap

import pytest

from reliability_fixtures import (
    PROJECT,
    flock_waiters,
    guild,
    guild_env,
    needed_lock_file,
    run_dirs,
    start_guild,
    wait_for,
)

N = 8
SKIP_HEAD = "Skipping because the following runs match this operation (--needed specified):"


@pytest.fixture
def home(tmp_path):
    h = tmp_path / "guild-home"
    h.mkdir()
    return str(h)


@pytest.fixture
def gate(tmp_path):
    g = tmp_path / "gate"
    g.mkdir()
    return str(g)


def _starts(gate: str) -> int:
    try:
        with open(os.path.join(gate, "starts")) as f:
            return len(f.read().split())
    except FileNotFoundError:
        return 0


def _open_gate_when_waiting(home: str, gate: str, waiters: int) -> None:
    """Let the first run finish only once every other start is blocked on the claim."""
    wait_for(lambda: _starts(gate) == 1, "the first run to start")
    lock = wait_for(lambda: needed_lock_file(home), "the claim file")
    wait_for(lambda: flock_waiters(lock) == waiters, "%d starts blocked on the claim" % waiters)
    with open(os.path.join(gate, "open"), "w"):
        pass


def _statuses(home: str) -> dict[str, str]:
    out = guild(["select", "-A", "-a", "status"], home).stdout.split()
    ids = guild(["select", "-A"], home).stdout.split()
    return dict(zip(ids, out))


def _start_many(home: str, gate: str, fail: str = "") -> list[subprocess.Popen]:
    env = guild_env(home, GATE_DIR=gate, GATE_FAIL=fail)
    return [start_guild(["run", "gate.py", "--needed", "-y"], home, env=env) for _ in range(N)]


def _finish(procs: list[subprocess.Popen]) -> list[tuple[int, str]]:
    return [(p.wait(timeout=120), p.stdout.read()) for p in procs]


def _skipped_naming(out: str) -> str | None:
    lines = out.splitlines()
    if not lines or lines[0] != SKIP_HEAD:
        return None
    m = re.match(r"^  \[([0-9a-f]{8})\]  gate\.py  \S+ \S+  completed  x=1$", lines[1])
    assert m, out
    assert len(lines) == 2, out
    return m.group(1)


def test_eight_needed_starts_make_one_run(home, gate):
    procs = _start_many(home, gate)
    try:
        _open_gate_when_waiting(home, gate, N - 1)
    finally:
        results = _finish(procs)
    assert _starts(gate) == 1
    runs = run_dirs(home)
    assert len(runs) == 1
    assert _statuses(home) == {runs[0]: "completed"}
    ran = [out for rc, out in results if "passed the gate" in out]
    skipped = [_skipped_naming(out) for rc, out in results if "passed the gate" not in out]
    assert len(ran) == 1
    assert skipped == [runs[0][:8]] * (N - 1)
    assert [rc for rc, _ in results] == [0] * N


def test_failed_winner_is_retried_by_exactly_one_waiter(home, gate):
    procs = _start_many(home, gate, fail="first")
    try:
        _open_gate_when_waiting(home, gate, N - 1)
    finally:
        results = _finish(procs)
    assert _starts(gate) == 2
    statuses = _statuses(home)
    assert sorted(statuses.values()) == ["completed", "error"]
    completed = [rid for rid, s in statuses.items() if s == "completed"][0]
    codes = sorted(rc for rc, _ in results)
    assert codes == [0] * (N - 1) + [1]
    skipped = [_skipped_naming(out) for rc, out in results if "start " not in out and "failing" not in out]
    assert skipped == [completed[:8]] * (N - 2)


def test_waiters_give_up_after_the_retry_fails_too(home, gate):
    procs = _start_many(home, gate, fail="always")
    try:
        _open_gate_when_waiting(home, gate, N - 1)
    finally:
        results = _finish(procs)
    # The first start and exactly one retry ran; both failed.
    assert _starts(gate) == 2
    assert sorted(_statuses(home).values()) == ["error", "error"]
    gave_up = [out for rc, out in results if rc == 1 and "not running it again" in out]
    assert len(gave_up) == N - 2
    for out in gave_up:
        lines = out.splitlines()
        assert re.match(r"^guild: gate\.py failed in 2 runs started while this one waited \(\w{8}, \w{8}\); not running it again$", lines[0]), out
        assert "Traceback" not in out
    assert sorted(rc for rc, _ in results) == [1] * N


def test_a_later_needed_start_after_a_failure_runs_again(home, gate):
    """Without waiting, an error run never counts: a new --needed start runs (Guild's rule)."""
    with open(os.path.join(gate, "open"), "w"):
        pass
    env = guild_env(home, GATE_DIR=gate, GATE_FAIL="first")
    first = guild(["run", "gate.py", "--needed", "-y"], home, env=env)
    assert first.returncode == 1
    second = guild(["run", "gate.py", "--needed", "-y"], home, env=env)
    assert second.returncode == 0 and "passed the gate" in second.stdout
    third = guild(["run", "gate.py", "--needed", "-y"], home, env=env)
    assert third.stdout.startswith(SKIP_HEAD)
    assert len(run_dirs(home)) == 2


LUIGI_WORKERS = textwrap.dedent(
    """
    import os, sys
    import luigi
    from luigi_guild.tasks import OperationTask

    project = sys.argv[1]
    script = os.path.join(project, "gate.py")


    class Copy(OperationTask):
        copy = luigi.IntParameter()  # significant, so part of the task id, but no flag: the same run


    # One run is one task id however the operation is spelled (issue 12) ...
    same = [OperationTask.of(spec, {"x": 1}, project_dir=project) for spec in ("gate.py", "./gate.py", script)]
    assert len({t.task_id for t in same}) == 1, [t.task_id for t in same]
    # ... so four distinct tasks for one run need other significant parameters or flag text.
    tasks = [
        OperationTask.of("gate.py", {"x": 1}, project_dir=project),
        OperationTask.of("gate.py", {"x": 1.0}, project_dir=project),
        Copy.of("./gate.py", {"x": 1}, project_dir=project, copy=1),
        Copy.of(script, {"x": 1}, project_dir=project, copy=2),
    ]
    assert len({t.task_id for t in tasks}) == 4, [t.task_id for t in tasks]
    ok = luigi.build(tasks, workers=int(sys.argv[2]), local_scheduler=True, log_level="WARNING")
    print("BUILD-OK" if ok else "BUILD-FAILED", flush=True)
    """
)


def _luigi_driver(tmp_path) -> str:
    path = tmp_path / "driver.py"
    path.write_text(LUIGI_WORKERS)
    return str(path)


def test_luigi_local_workers_collapse_to_one_run(home, gate, tmp_path):
    """Four distinct Luigi tasks with equal operation and flags, four worker processes: one run."""
    driver = _luigi_driver(tmp_path)
    env = guild_env(home, GATE_DIR=gate)
    proc = subprocess.Popen(
        [sys.executable, driver, PROJECT, "4"],
        cwd=str(tmp_path),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        _open_gate_when_waiting(home, gate, 3)
    finally:
        out = proc.communicate(timeout=120)[0]
    assert "BUILD-OK" in out, out
    assert _starts(gate) == 1
    assert list(_statuses(home).values()) == ["completed"]


def test_luigi_separate_processes_collapse_to_one_run(home, gate, tmp_path):
    """Several processes each calling luigi.build on the same task: one run."""
    script = tmp_path / "one.py"
    script.write_text(
        "import sys, luigi\n"
        "from luigi_guild.tasks import OperationTask\n"
        "t = OperationTask.of('gate.py', {'x': 1}, project_dir=sys.argv[1])\n"
        "ok = luigi.build([t], workers=1, local_scheduler=True, log_level='WARNING')\n"
        "print('BUILD-OK' if ok else 'BUILD-FAILED', flush=True)\n"
    )
    env = guild_env(home, GATE_DIR=gate)
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), PROJECT],
            cwd=str(tmp_path),
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(4)
    ]
    try:
        _open_gate_when_waiting(home, gate, 3)
    finally:
        outs = [p.communicate(timeout=120)[0] for p in procs]
    for out in outs:
        assert "BUILD-OK" in out, out
    assert _starts(gate) == 1
    assert list(_statuses(home).values()) == ["completed"]


def test_luigi_waiter_retries_once_after_the_winner_fails(home, gate, tmp_path):
    driver = _luigi_driver(tmp_path)
    env = guild_env(home, GATE_DIR=gate, GATE_FAIL="first")
    proc = subprocess.Popen(
        [sys.executable, driver, PROJECT, "4"],
        cwd=str(tmp_path),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        _open_gate_when_waiting(home, gate, 3)
    finally:
        out = proc.communicate(timeout=120)[0]
    # The failed task makes the build fail; the retry completed and the rest skipped.
    assert "BUILD-FAILED" in out, out
    assert _starts(gate) == 2
    assert sorted(_statuses(home).values()) == ["completed", "error"]
