"""Staged trials and queues: several queue processes sharing a Guild home drain staged runs once each."""

from __future__ import annotations

import collections
import re
import signal
import subprocess
import sys
import time

from pipelines_fixtures import guild, guild_env, project, runs, trial_runs
from test_luigid import free_port, luigid  # noqa: F401  (the real luigid fixture)

SWEEP = project("sweep")
START_RE = re.compile(r"Starting staged run ([0-9a-f]{32})$", re.M)


def _assert_each_started_once_by_both(procs: list[subprocess.Popen], staged: list) -> None:
    """The queue processes all exit 0, start every staged run exactly once, and each starts some."""
    outs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0] * len(procs), outs
    started = [START_RE.findall(out) for out in outs]
    counts = collections.Counter(i for ids in started for i in ids)
    assert sorted(counts) == sorted(t.id for t in staged), outs
    assert set(counts.values()) == {1}, "a staged run started twice: %s" % counts
    assert all(ids for ids in started), "one queue did all the work: %s" % [len(i) for i in started]


def test_stage_trials_then_two_queues_drain_each_once(tmp_path):
    home = tmp_path / "home"
    r = guild(home, "run", "echo", "x=range[1:8]", "sleep=0.3", "--stage-trials", "-y", cwd=SWEEP)
    assert r.rc == 0, r.out
    assert r.out.count("Staging trial ") == 8
    staged = trial_runs(home, "toy:echo")
    assert len(staged) == 8 and all(t.status == "staged" for t in staged)
    assert not any(r.op_name.endswith("+") for r in runs(home)), "a successful grid batch is deleted"
    args = [sys.executable, "-m", "luigi_guild", "run", "queue", "run-once=yes", "poll-interval=1", "-y"]
    procs = [
        subprocess.Popen(args, cwd=SWEEP, env=guild_env(home), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for _ in range(2)
    ]
    _assert_each_started_once_by_both(procs, staged)
    trials = trial_runs(home, "toy:echo")
    assert sorted(t.flags["x"] for t in trials) == list(range(1, 9))
    assert all(t.status == "completed" for t in trials), [t.status for t in trials]
    queues = [r for r in runs(home) if r.op_name == "queue"]
    assert len(queues) == 2 and all(q.status == "completed" for q in queues)
    assert all(q.label == "poll-interval=1 run-once=yes wait-for-running=no" for q in queues)


def test_queues_on_two_hosts_through_luigid_drain_each_once(tmp_path, luigid):  # noqa: F811
    """Two queue processes, each in its own working directory (a host), share one Guild home and one luigid."""
    home = tmp_path / "home"
    r = guild(home, "run", "echo", "x=range[1:8]", "sleep=0.3", "--stage-trials", "-y", cwd=SWEEP)
    assert r.rc == 0, r.out
    staged = trial_runs(home, "toy:echo")
    assert len(staged) == 8 and all(t.status == "staged" for t in staged)
    args = [sys.executable, "-m", "luigi_guild", "run", "queue", "run-once=yes", "-y",
            "--scheduler-host", "127.0.0.1", "--scheduler-port", str(luigid)]
    hosts = [tmp_path / "host-a", tmp_path / "host-b"]
    procs = []
    for host in hosts:
        host.mkdir()
        procs.append(subprocess.Popen(args, cwd=host, env=guild_env(home), stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True))
    _assert_each_started_once_by_both(procs, staged)
    trials = trial_runs(home, "toy:echo")
    assert all(t.status == "completed" for t in trials), [t.status for t in trials]
    assert not [r for r in runs(home) if r.status == "staged"]


def test_queue_with_an_unreachable_scheduler_makes_no_run(tmp_path):
    home = tmp_path / "home"
    port = free_port()
    r = guild(home, "run", "queue", "run-once=yes", "--scheduler-host", "127.0.0.1", "--scheduler-port", str(port),
              "-y", cwd=SWEEP)
    assert r.rc == 1 and r.out.startswith("guild: cannot reach the central scheduler at 127.0.0.1:%d" % port), r.out
    assert runs(home) == []


def test_background_queue_starts_runs_staged_later_and_stops_on_sigterm(tmp_path):
    home = tmp_path / "home"
    pidfile = tmp_path / "queue.pid"
    r = guild(home, "run", "queue", "poll-interval=1", "--background", "--pidfile", str(pidfile), "-y", cwd=SWEEP)
    assert r.rc == 0, r.out
    assert re.match(r"queue started in background as [0-9a-f]{32} \(pidfile %s\)$" % re.escape(str(pidfile)), r.out)
    queue = [q for q in runs(home) if q.op_name == "queue"][0]
    assert queue.status == "running"
    r = guild(home, "run", "echo", "x=[1,2]", "--stage-trials", "-y", cwd=SWEEP)
    assert r.rc == 0, r.out
    deadline = time.time() + 30
    while time.time() < deadline:
        trials = trial_runs(home, "toy:echo")
        if len(trials) == 2 and all(t.status == "completed" for t in trials):
            break
        time.sleep(0.2)
    else:
        raise AssertionError([t.status for t in trial_runs(home, "toy:echo")])
    pid = int(pidfile.read_text())
    import os

    os.kill(pid, signal.SIGTERM)
    deadline = time.time() + 15
    while time.time() < deadline and queue.status == "running":
        time.sleep(0.1)
    assert queue.status == "completed"
    out = (tmp_path / "home" / "runs" / queue.id / ".guild" / "output").read_text()
    assert "Starting queue" in out and "Stopping queue" in out and out.count("Starting staged run") == 2


def test_queue_and_stage_trials_bad_input(tmp_path):
    home = tmp_path / "home"
    r = guild(home, "run", "queue", "poll-interval=x", "-y", cwd=SWEEP)
    assert (r.rc, r.out) == (1, "guild: invalid value x for poll-interval: expected an integer\n")
    r = guild(home, "run", "queue", "nope=1", "-y", cwd=SWEEP)
    assert r.rc == 1 and r.out.splitlines()[0] == "guild: unsupported flag 'nope'"
    r = guild(home, "run", "echo", "x=1", "--stage-trials", "-y", cwd=SWEEP)
    assert (r.rc, r.out) == (1, "guild: cannot stage trials for a non-batch operation\n")
    assert runs(home) == []


def _on_a_terminal(home, args: list[str], env_extra: dict[str, str] | None = None, timeout: float = 120) -> str:
    """Run ``guild ARGS`` on a pseudo-terminal; its whole output, escape codes and all."""
    import os
    import pty
    import select
    import time

    env = {**guild_env(home), "TERM": "xterm", "COLUMNS": "100", **(env_extra or {})}
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child
        os.chdir(SWEEP)
        os.execve(sys.executable, [sys.executable, "-m", "luigi_guild", *args], env)
    out = b""
    end = time.time() + timeout
    try:
        while time.time() < end:
            r, _, _ = select.select([fd], [], [], 0.2)
            if r:
                try:
                    data = os.read(fd, 65536)
                except OSError:
                    break
                if not data:
                    break
                out += data
    finally:
        os.close(fd)
        os.waitpid(pid, 0)
    return out.decode(errors="replace")


def test_progress_lines_on_a_terminal_and_plain_lines_piped(tmp_path):
    home = tmp_path / "home"
    # A sweep: a bar with trials done of all, failures; a queue: runs done of started and staged.
    out = _on_a_terminal(home, ["run", "echo", "x=[1,2,3]", "-y", "-q"], {"FAIL_X": "2"})
    assert "1/3 trials, 0 failed" in out and "2/3 trials, 1 failed" in out and "3/3 trials, 1 failed" in out, out
    assert "\u2501" in out, out  # the bar itself
    r = guild(home, "run", "echo", "x=[4,5]", "--stage-trials", "-y", cwd=SWEEP)
    assert r.rc == 0, r.out
    out = _on_a_terminal(home, ["run", "queue", "run-once=yes", "-y"], {"FAIL_X": "5"})
    assert "1/2 runs, 0 failed" in out and "2/2 runs, 1 failed" in out, out
    # Piped: the log lines only.
    r = guild(home, "run", "echo", "x=[6,7]", "-y", cwd=SWEEP)
    assert r.rc == 0 and "trials," not in r.out and "\u2501" not in r.out, r.out
    r = guild(home, "run", "echo", "x=[8]", "--stage-trials", "-y", cwd=SWEEP)
    r = guild(home, "run", "queue", "run-once=yes", "-y", cwd=SWEEP)
    assert r.rc == 0 and "Starting staged run" in r.out and "runs," not in r.out, r.out
