"""The trial launcher (issue 14, throughput): a sweep's trials forked from a warm interpreter.

Each trial must be what a fresh ``python -um luigi_guild.op_main`` would be: the
same view of itself (argv, sys.path, environment, signals, standard streams),
the same exit statuses and output, and the same lifetime rules (killed with
its sweep, stoppable by the pid in its LOCK). Each test runs the same sweep
with the launcher and with it turned off (``LUIGI_GUILD_LAUNCHER=0``) and
compares what the runs recorded.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess

import psutil
import pytest

from reliability_fixtures import guild, guild_env, start_guild, wait_for
from luigi_guild.store.rundir import Run, pid_alive

PROBE = r'''import os, signal, sys
x = 0
def desc(s):
    raw = getattr(s.buffer, "raw", s.buffer)
    return (type(s.buffer).__name__, s.encoding, s.errors, s.line_buffering, s.write_through, raw.name)
print("argv: %r" % (sys.argv,))
print("orig_argv: %r" % (sys.orig_argv[1:],))
print("path: %r" % (sys.path,))
print("main: %r %r %r" % (__name__, __file__, sys.modules["__main__"].__file__))
print("cwd: %r" % (os.getcwd(),))
print("env: %r" % (sorted(os.environ.items()),))
print("signals: %r" % ([str(signal.getsignal(s)) for s in range(1, 32) if s not in (9, 19)],))
print("flags: %r" % (sys.flags,))
print("stdio: %r" % ([desc(sys.stdin), desc(sys.stdout), desc(sys.stderr)],))
print("globals: %r" % (sorted(vars(sys.modules["__main__"])),))
print("launched: %s" % ("luigi_guild.run.launcher" in open("/proc/%d/cmdline" % os.getppid()).read()))
'''

ENDINGS = r'''import atexit, os, signal, sys, threading, time
how = "ok"
atexit.register(lambda: print("atexit ran"))
print("start %s" % how)
if how == "exit3":
    sys.exit(3)
elif how == "exitmsg":
    sys.exit("a message")
elif how == "raise":
    raise ValueError("boom")
elif how == "interrupt":
    raise KeyboardInterrupt
elif how == "kill9":
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)
elif how == "thread":
    threading.Thread(target=lambda: (time.sleep(0.2), print("thread done"))).start()
elif how == "unflushed":
    sys.stdout = open(1, "w", buffering=4096, closefd=False)
    print("buffered line")
'''

WAITER = "import time\nx = 0\nprint('ready %s' % x, flush=True)\ntime.sleep(60)\n"


@pytest.fixture
def proj(tmp_path):
    p = tmp_path / "proj"
    p.mkdir()
    (p / "probe.py").write_text(PROBE)
    (p / "endings.py").write_text(ENDINGS)
    (p / "waiter.py").write_text(WAITER)
    return p


def _trials(home: str, op: str) -> list[Run]:
    root = os.path.join(home, "runs")
    names = os.listdir(root) if os.path.isdir(root) else []
    runs = [Run(n, os.path.join(root, n)) for n in names if not n.startswith(".")]
    return sorted((r for r in runs if r.op_name == op), key=lambda r: str(r.get("flags")))


def _sweep(proj, home: str, launcher: str, *args: str) -> subprocess.CompletedProcess:
    env = guild_env(home, LUIGI_GUILD_LAUNCHER=launcher)
    proc = guild(["run", "-y", *args, "--workers", "2"], home, cwd=str(proj), env=env)
    assert "Traceback" not in proc.stderr.replace("Traceback (most recent call last)", ""), proc.stderr
    return proc


def _output(run: Run, home: str) -> str:
    with open(run.guild_path("output"), encoding="utf-8") as f:
        text = f.read()
    text = text.replace(run.path, "RUN_DIR").replace(run.id, "RUN_ID").replace(home, "HOME")
    return re.sub(r"\('(LUIGI_GUILD_LAUNCHER|FLAG_X)', '[^']*'\), ", "", text)


def test_a_launched_trial_sees_what_a_fresh_interpreter_gives(proj, tmp_path):
    home = str(tmp_path / "home")
    _sweep(proj, home, "1", "probe.py", "x=[1,2]")
    _sweep(proj, home, "0", "probe.py", "x=[1,2]")
    runs = _trials(home, "probe.py")
    assert len(runs) == 4
    outs = [_output(r, home) for r in runs]
    launched = ["launched: True" in o for o in outs]
    assert sorted(launched) == [False, False, True, True], outs
    for x in (1, 2):
        pair = [o.replace("launched: True", "launched: False") for r, o in zip(runs, outs) if r.get("flags") == {"x": x}]
        assert len(pair) == 2
        assert pair[0] == pair[1]
        assert "argv: ['%s']" % os.path.join("RUN_DIR", "probe.py") in pair[0]
        assert "path: ['RUN_DIR', 'RUN_DIR'," in pair[0]
    # What Guild reads back is unchanged: the command, the status, the environment attr.
    cmds = {str(r.get("cmd")) for r in runs if r.get("flags") == {"x": 1}}
    assert len(cmds) == 1
    assert all(r.status == "completed" and r.get("exit_status") == 0 for r in runs)


@pytest.mark.parametrize("how", ["ok", "exit3", "exitmsg", "raise", "interrupt", "kill9", "thread", "unflushed"])
def test_exit_statuses_and_output_match_a_fresh_interpreter(proj, tmp_path, how):
    home = str(tmp_path / "home")
    for launcher in ("1", "0"):
        _sweep(proj, home, launcher, "endings.py", "how=[%s]" % how)
    runs = _trials(home, "endings.py")
    assert len(runs) == 2
    statuses = [r.get("exit_status") for r in runs]
    assert statuses[0] == statuses[1], statuses
    expected = {"ok": 0, "exit3": 3, "exitmsg": 1, "raise": 1, "interrupt": -2, "kill9": -9, "thread": 0, "unflushed": 0}
    assert statuses[0] == expected[how]
    outs = [_output(r, home) for r in runs]
    # stdout and stderr are separate pipes: lines of the two may arrive in either order.
    assert sorted(outs[0].splitlines()) == sorted(outs[1].splitlines())
    assert "start %s" % how in outs[0]
    if how in ("ok", "exit3", "thread", "unflushed"):
        assert "atexit ran" in outs[0]
    if how == "thread":
        assert "thread done" in outs[0]
    if how == "raise":
        assert "ValueError: boom" in outs[0]
    if how == "unflushed":
        assert "buffered line" in outs[0]


def test_only_op_main_commands_with_the_launchers_interpreter_settings_are_launched(proj, monkeypatch):
    """Another program, or PYTHONHASHSEED (read when Python starts) other than the launcher's: no launcher."""
    import sys

    from luigi_guild.run import launcher

    monkeypatch.delenv(launcher.ENV_SWITCH, raising=False)
    cmd = [sys.executable, "-um", "luigi_guild.op_main", "probe", "--x", "5"]
    env = dict(os.environ, PYTHONPATH=str(proj))
    env.pop("PYTHONHASHSEED", None)
    proc = launcher.spawn(cmd, str(proj), env, subprocess.DEVNULL, subprocess.PIPE, subprocess.STDOUT)
    assert proc is not None
    assert proc.pid in launcher.running_pids()
    assert proc.stdout is not None
    out = proc.stdout.read().decode()
    assert proc.wait() == 0 and proc.returncode == 0
    assert "launched: True" in out and "argv: ['%s']" % (proj / "probe.py") in out
    assert proc.pid not in launcher.running_pids()
    assert launcher.spawn(cmd, str(proj), dict(env, PYTHONHASHSEED="7"), None, None, None) is None
    assert launcher.spawn(["/bin/true", "-um", "luigi_guild.op_main", "x"], str(proj), env, None, None, None) is None
    monkeypatch.setenv(launcher.ENV_SWITCH, "0")
    assert launcher.spawn(cmd, str(proj), env, None, None, None) is None


def _running(home: str, n: int) -> list[int] | None:
    trials = [t for t in _trials(home, "waiter.py") if t.status == "running"]
    if len(trials) < n:
        return None
    pids = []
    for t in trials:
        with open(t.guild_path("output"), "rb") as f:
            if b"ready" not in f.read():
                return None
        pid = t.lock_pid()
        if pid is None:
            return None
        pids.append(pid)
    return pids


def _group_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


def test_a_killed_spare_child_is_replaced_and_none_outlives_the_launcher(proj, monkeypatch):
    """The launcher keeps one child forked for the next trial; one killed meanwhile is replaced."""
    import sys

    from luigi_guild.run import launcher

    monkeypatch.delenv(launcher.ENV_SWITCH, raising=False)
    cmd = [sys.executable, "-um", "luigi_guild.op_main", "probe", "--x", "5"]
    env = dict(os.environ, PYTHONPATH=str(proj))
    env.pop("PYTHONHASHSEED", None)

    def launch() -> tuple[int, str]:
        proc = launcher.spawn(cmd, str(proj), env, subprocess.DEVNULL, subprocess.PIPE, subprocess.STDOUT)
        assert proc is not None and proc.stdout is not None
        out = proc.stdout.read().decode()
        assert proc.wait() == 0 and "launched: True" in out
        return proc.pid, out

    first, _ = launch()
    shared = launcher._shared()
    assert shared is not None
    serving = psutil.Process(shared.proc.pid)

    def spares() -> list[psutil.Process]:
        return [c for c in serving.children() if c.status() != psutil.STATUS_ZOMBIE]

    (spare,) = wait_for(lambda: spares() or None, "a spare child waiting")
    assert spare.pid != first
    spare.kill()
    wait_for(lambda: spare.pid not in [c.pid for c in serving.children()], "the killed spare reaped")
    second, out = launch()  # handed to a new child: the launcher did not break
    assert second not in (first, spare.pid) and launcher._shared() is shared and not shared.broken
    assert "argv: ['%s']" % (proj / "probe.py") in out
    (after,) = wait_for(lambda: spares() or None, "the next spare waiting")
    shared.close()
    with launcher._state_lock:
        launcher._state.clear()  # the next test's trials get a launcher of their own
    assert not pid_alive(serving.pid)
    wait_for(lambda: not pid_alive(after.pid), "the spare gone with its launcher")


def test_trials_end_with_a_killed_sweep(proj, tmp_path):
    home = str(tmp_path / "home")
    proc = start_guild(["run", "-y", "waiter.py", "x=[1,2,3]", "--workers", "2"], home, cwd=str(proj),
                       start_new_session=True)
    try:
        pids = wait_for(lambda: _running(home, 2), "two trials running")
        launchers = [c.pid for c in psutil.Process(proc.pid).children()]
        assert launchers and all(psutil.Process(p).ppid() in launchers for p in pids)
        os.kill(proc.pid, signal.SIGKILL)  # guild run alone: it cannot pass anything on
        proc.wait(timeout=30)
        wait_for(lambda: not [p for p in pids + launchers if pid_alive(p)], "the trials and the launcher gone", limit=30)
        wait_for(lambda: _group_gone(proc.pid), "nothing of the sweep left (the launcher's spare child too)", limit=30)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert len(_trials(home, "waiter.py")) == 2


def test_stop_of_a_launched_trial_uses_its_real_pid(proj, tmp_path):
    home = str(tmp_path / "home")
    proc = start_guild(["run", "-y", "waiter.py", "x=[1,2]", "--workers", "2"], home, cwd=str(proj),
                       start_new_session=True)
    try:
        pids = wait_for(lambda: _running(home, 2), "two trials running")
        for pid in pids:
            assert psutil.Process(pid).cmdline()[0:1] != [] and pid != proc.pid
        (first, _second) = [t for t in _trials(home, "waiter.py")]
        stopped = guild(["stop", "-y", first.id], home, cwd=str(proj))
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        wait_for(lambda: first.status == "terminated", "the stopped trial terminated")
        assert first.get("exit_status") == -signal.SIGTERM
        os.kill(proc.pid, signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 128 + signal.SIGTERM, out
    assert sorted(t.status for t in _trials(home, "waiter.py")) == ["terminated", "terminated"]


SLOW_FIRST = """import os, time
x = 0
marker = os.path.join(os.environ["GUILD_HOME"], "slow-taken")
try:
    os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    slow = True
except FileExistsError:
    slow = False
time.sleep(4 if slow else 0)
print("loss: %s" % x)
"""


def test_an_optimizer_with_workers_asks_a_new_trial_as_soon_as_one_ends(tmp_path):
    """``-o tpe --workers 2``: one slow trial does not hold the other worker (no waiting in pairs)."""
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "slow.py").write_text(SLOW_FIRST)
    home = str(tmp_path / "home")
    r = guild(["run", "-y", "slow.py", "x=[0:100]", "-o", "tpe", "-m", "6", "--workers", "2"], home, cwd=str(proj))
    assert r.returncode == 0, r.stdout + r.stderr
    trials = _trials(home, "slow.py")
    assert len(trials) == 6 and all(t.status == "completed" for t in trials)
    spans = sorted(((t.get("started"), t.get("stopped")) for t in trials), key=lambda s: s[0] - s[1])
    slow, others = spans[0], spans[1:]
    inside = [s for s in others if slow[0] <= s[0] and s[1] <= slow[1]]
    assert len(inside) >= 2, (slow, others)
    root = os.path.join(home, "runs")
    batches = [Run(n, os.path.join(root, n)) for n in os.listdir(root) if "+" in Run(n, os.path.join(root, n)).op_name]
    assert [b.status for b in batches] == ["completed"]


def test_an_optimizer_with_workers_stops_when_no_trial_logs_the_objective(tmp_path):
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "quiet.py").write_text("x = 0\n")
    home = str(tmp_path / "home")
    r = guild(["run", "-y", "quiet.py", "x=[0:100]", "-o", "tpe", "-m", "8", "--workers", "2"], home, cwd=str(proj))
    assert r.returncode == 1, r.stdout + r.stderr
    assert "guild: trial " in r.stderr and "did not log the objective 'loss'" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
    assert 1 <= len(_trials(home, "quiet.py")) <= 3  # stopped at once: only the trials already running finish


# ------------------------------------------------------- runs made by the trial's own process


def _layout(run: Run, home: str) -> list[str]:
    """Every file of a run with its mode and (for attrs and run files) its content, ids and times masked."""
    out = []
    for root, dirs, files in os.walk(run.path):
        dirs.sort()
        for name in sorted(dirs + files):
            path = os.path.join(root, name)
            rel = os.path.relpath(path, run.path)
            st = os.lstat(path)
            entry = "%s %o" % (rel, st.st_mode)
            if name.startswith("events.out.tfevents."):
                entry = ".guild/EVENTS %o" % st.st_mode
            elif os.path.isfile(path) and (rel.startswith(".guild/attrs/") or rel in (".guild/opref", ".guild/manifest")
                                           or not rel.startswith(".guild")):
                with open(path, encoding="utf-8") as f:
                    text = f.read()
                if name in ("initialized", "started", "stopped"):
                    text = "TIME"
                text = text.replace(run.path, "RUN_DIR").replace(run.id, "RUN_ID").replace(home, "HOME")
                entry += " " + re.sub(r"LUIGI_GUILD_LAUNCHER: '?\d'?\n", "", text)
            out.append(entry)
    return out


def test_a_trial_makes_the_same_run_in_its_own_process(proj, tmp_path):
    """With the launcher, the forked trial writes its run's files (attrs, source copy, manifest, LOCK):
    the run reads the same, file for file, as one made by ``guild run`` for a trial started afresh."""
    (proj / "pkg").mkdir()
    (proj / "pkg" / "util.py").write_text("VALUE = 1\n")
    (proj / "tool.py").write_text("print('tool')\n")
    os.chmod(proj / "tool.py", 0o751)
    home = str(tmp_path / "home")
    for launcher in ("1", "0"):
        proc = _sweep(proj, home, launcher, "endings.py", "how=[ok,exit3]")
        assert proc.returncode == 0, proc.stderr
    runs = _trials(home, "endings.py")
    assert len(runs) == 4 and sorted(r.status for r in runs) == ["completed", "completed", "error", "error"]
    layouts = {}
    for run in runs:
        layouts.setdefault(str(run.get("flags")), []).append(_layout(run, home))
    for pair in layouts.values():
        assert pair[0] == pair[1]
    assert any(line.startswith("tool.py 100751") for line in pair[0])
    assert any(line.startswith("pkg/util.py 100644 VALUE = 1") for line in pair[0])
    assert not [n for n in os.listdir(os.path.join(home, "runs")) if n.startswith(".")]


def test_a_trial_killed_while_making_its_run_leaves_no_half_made_run(tmp_path, monkeypatch):
    """SIGKILL while the forked trial writes its run: either the run never appears (its hidden
    creation directory is left for the stale-creation cleanup) or it is there whole and reads as
    killed, never ``pending`` or ``running``."""
    import glob
    import threading
    import time

    from luigi_guild.model.errors import GuildError
    from luigi_guild.run import create, launcher, process
    from luigi_guild.run.plan import plan_new

    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "train.py").write_text("x = 1\nprint(x)\n")
    home = tmp_path / "home"
    monkeypatch.setenv("GUILD_HOME", str(home))
    monkeypatch.delenv(launcher.ENV_SWITCH, raising=False)
    plan = plan_new("train.py", {}, cwd=str(proj))
    prepared = create.deferred_run(plan)
    assert prepared is not None
    run, env, setup = prepared
    ops = setup[1][2]
    ops[3:3] = [("d", "d%d" % n) for n in range(6000)]  # a run slow enough to make to be caught at it
    errors: list[Exception] = []
    result: list[int | None] = []

    def start() -> None:
        try:
            result.append(process.start_deferred(run, plan, env, setup, echo=False))
        except GuildError as e:
            errors.append(e)

    t = threading.Thread(target=start)
    t.start()
    runs_root = str(home / "runs")
    pids = wait_for(launcher.running_pids, "the trial forked")
    made_lock = os.path.join(runs_root, ".tmp-*", ".guild", "LOCK")  # written first: it names the maker
    wait_for(lambda: glob.glob(made_lock) or os.path.isdir(run.path), "the trial making its run", step=0.001)
    os.kill(pids[0], signal.SIGKILL)
    t.join(60)
    assert not t.is_alive()
    listed = [n for n in os.listdir(runs_root) if not n.startswith(".")]
    if errors:  # killed before the run was in place: nothing listed, the creation dir reclaimable
        assert listed == [] and "cannot create run %s" % run.id in str(errors[0])
        assert create.clean_stale_tmp(runs_root, now=time.time() + create.STALE_TMP_AGE + 1)
        assert os.listdir(runs_root) == []
    else:  # killed after: the whole run, ended by the signal
        assert listed == [run.id] and result == [-signal.SIGKILL]
        made = Run(run.id, run.path)
        assert made.status == "terminated" and made.get("exit_status") == -signal.SIGKILL
        assert os.path.isfile(made.guild_path("opref")) and not os.path.exists(made.guild_path("PENDING"))
