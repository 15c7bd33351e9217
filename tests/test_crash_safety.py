"""Honest statuses after signals and crashes; no half-made runs; clear errors on bad storage."""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
import time

import pytest

from luigi_guild.run import create as launch
from luigi_guild.store.rundir import Run, boot_id, proc_start_time
from reliability_fixtures import (
    PROJECT,
    guild,
    guild_env,
    pid_gone,
    run_dirs,
    start_guild,
    wait_for,
)


@pytest.fixture
def home(tmp_path):
    h = tmp_path / "guild-home"
    h.mkdir()
    return str(h)


def _one_run(home: str) -> Run:
    names = run_dirs(home)
    assert len(names) == 1, names
    return Run(names[0], os.path.join(home, "runs", names[0]))


def _status(home: str, run_id: str) -> str:
    out = guild(["select", run_id, "-a", "status"], home)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def _start_sleepy(home: str) -> tuple[subprocess.Popen, Run, int]:
    """Start ``guild run sleepy.py``; returns it once the script says it is ready."""
    proc = start_guild(["run", "sleepy.py", "-y"], home)
    assert proc.stdout.readline() == "ready\n"
    run = _one_run(home)
    child = run.lock_pid()
    assert child is not None and child != proc.pid
    assert _status(home, run.id) == "running"
    return proc, run, child


# --------------------------------------------------------------- signals


def test_sigkill_of_guild_run_leaves_an_error_run(home):
    proc, run, child = _start_sleepy(home)
    proc.kill()
    proc.wait()
    # PR_SET_PDEATHSIG: the script dies with its parent.
    wait_for(lambda: pid_gone(child), "the script to die with guild run")
    assert run.has("LOCK") and run.lock_pid() == child
    assert run.get("exit_status") is None
    assert _status(home, run.id) == "error"
    listing = guild(["runs"], home).stdout.split("  ")
    assert listing[1] == "sleepy.py" and listing[3] == "error", listing


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, -15), (signal.SIGINT, -2)])
def test_sigterm_and_sigint_reach_the_script(home, sig, code):
    proc, run, child = _start_sleepy(home)
    proc.send_signal(sig)
    rest = proc.communicate(timeout=60)[0]
    assert "woke up" not in rest
    assert proc.returncode == 128 - code
    assert pid_gone(child)
    assert run.get("exit_status") == code
    assert not run.has("LOCK")
    assert _status(home, run.id) == "terminated"
    assert isinstance(run.get("stopped"), int)


def test_sigkill_before_the_run_starts_reads_error_not_pending(home, tmp_path):
    """A creator killed after the run dir exists but before the script starts leaves ``error``."""
    run_dir = os.path.join(home, "runs", "aaa")
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert guild(["run", "hello.py", "-y", "--run-id", "aaa"], home).returncode == 0
        run = Run("aaa", run_dir)
        os.remove(run.attr_path("exit_status"))
        # What mark_pending() writes, naming a live process: pending.
        from luigi_guild.store.rundir import process_marker

        with open(run.guild_path("PENDING"), "w") as f:
            f.write(process_marker(holder.pid))
        assert _status(home, "aaa") == "pending"
        holder.kill()
        holder.wait()
        assert _status(home, "aaa") == "error"
        # An empty PENDING (as Guild and needed.md write it) stays pending.
        with open(run.guild_path("PENDING"), "w"):
            pass
        assert _status(home, "aaa") == "pending"
    finally:
        holder.kill()
        holder.wait()


# --------------------------------------------------------------- LOCK format


def test_lock_is_guild_compatible(home):
    proc, run, child = _start_sleepy(home)
    try:
        with open(run.guild_path("LOCK")) as f:
            text = f.read()
        # Guild reads the first 10 characters as the pid.
        assert int(text[:10]) == child
        assert text[10] == "\n"
        start, boot = text[11:].split()
        assert int(start) == proc_start_time(child)
        assert boot == boot_id()
    finally:
        proc.terminate()
        proc.wait()


def test_reused_pid_does_not_read_running(home):
    """A LOCK naming a live, unrelated process (a reused pid) reads ``error``."""
    assert guild(["run", "hello.py", "-y", "--run-id", "aaa"], home).returncode == 0
    run = Run("aaa", os.path.join(home, "runs", "aaa"))
    os.remove(run.attr_path("exit_status"))
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        real_start = wait_for(lambda: proc_start_time(other.pid), "the process's start time")

        def write_lock(text: str) -> str:
            with open(run.guild_path("LOCK"), "w") as f:
                f.write(text)
            return _status(home, "aaa")

        # The pid with its own start time: running.
        assert write_lock("%-10d\n%d %s\n" % (other.pid, real_start, boot_id())) == "running"
        # Same pid, another start time: the pid was reused.
        assert write_lock("%-10d\n%d %s\n" % (other.pid, real_start + 12345, boot_id())) == "error"
        # Same pid and start time from another boot (or host).
        assert write_lock("%-10d\n%d %s\n" % (other.pid, real_start, "another-boot")) == "error"
        # A bare pid, as Guild and needed.md write it, reads as Guild reads it.
        assert write_lock(str(other.pid)) == "running"
        assert write_lock(str(os.getpid())) == "running"
        other.kill()
        other.wait()
        assert write_lock(str(other.pid)) == "error"
        assert write_lock("garbage") == "error"
        assert write_lock("") == "error"
    finally:
        other.kill()
        other.wait()


# --------------------------------------------------------------- nothing half-made


def test_dir_without_opref_is_never_listed(home):
    assert guild(["run", "hello.py", "-y", "--run-id", "aaa"], home).returncode == 0
    for name, parts in [("bbb", [".guild", "attrs"]), ("ccc", []), (".tmp-ddd-1234", [".guild"])]:
        os.makedirs(os.path.join(home, "runs", name, *parts))
    with open(os.path.join(home, "runs", "bbb", ".guild", "attrs", "exit_status"), "w") as f:
        f.write("0\n")
    # A creation dir that already has its opref is still hidden.
    shutil.copy(os.path.join(home, "runs", "aaa", ".guild", "opref"), os.path.join(home, "runs", ".tmp-ddd-1234", ".guild"))
    with open(os.path.join(home, "runs", "file"), "w"):
        pass
    listing = guild(["runs"], home)
    assert listing.returncode == 0
    assert [line.split()[0] for line in listing.stdout.splitlines()] == ["[1:aaa]"]
    assert guild(["select", "-A"], home).stdout.split() == ["aaa"]
    assert guild(["select", "bbb"], home).returncode == 1
    assert guild(["run", "--restart", "bbb", "-y"], home).stderr.startswith("guild: could not find a run matching 'bbb'")
    assert guild(["run", "--restart", ".tmp-ddd-1234", "-y"], home).returncode == 1
    skip = guild(["run", "hello.py", "--needed", "-y"], home)
    assert skip.stdout.splitlines()[1].startswith("  [aaa]  hello.py")


def _big_project(tmp_path) -> str:
    proj = tmp_path / "big"
    proj.mkdir()
    (proj / "main.py").write_text("x = 1\nprint('x', x)\n")
    # Text files just under the 1 MiB source limit (binary files are never copied, as under Guild).
    line = b"0123456789" * 8 + b"\n"
    block = line * ((1024 * 1024 - 1) // len(line))
    for i in range(99):
        (proj / ("data%02d.txt" % i)).write_bytes(block)
    return str(proj)


def test_sigkill_during_source_copy_leaves_no_listed_run(home, tmp_path):
    proj = _big_project(tmp_path)
    runs_root = os.path.join(home, "runs")
    for _attempt in range(5):
        proc = start_guild(["run", "main.py", "-y"], home, cwd=proj)
        tmp_dirs: list[str] = []

        def creating() -> bool:
            # In the middle of the source copy: some data files copied, not all.
            try:
                tmp_dirs[:] = [n for n in os.listdir(runs_root) if n.startswith(".tmp-")]
                copied = tmp_dirs and [n for n in os.listdir(os.path.join(runs_root, tmp_dirs[0])) if n.startswith("data")]
            except FileNotFoundError:
                return proc.poll() is not None
            return bool(copied) or proc.poll() is not None

        wait_for(creating, "the run's creation dir", step=0.0005)
        proc.kill()
        proc.wait()
        if tmp_dirs and os.path.isdir(os.path.join(runs_root, tmp_dirs[0])):
            break
        shutil.rmtree(runs_root, ignore_errors=True)  # too late: the copy finished first; try again
    else:
        pytest.skip("could not catch the source copy in progress")
    assert run_dirs(home) == []
    listing = guild(["runs"], home)
    assert (listing.returncode, listing.stdout, listing.stderr) == (0, "", "")
    assert guild(["select"], home).stderr == "guild: no matching runs\n"

    # The killed creation's leftover is cleaned once it is old, by the next creation.
    leftover = os.path.join(runs_root, tmp_dirs[0])
    assert guild(["run", "hello.py", "-y"], home).returncode == 0
    assert os.path.isdir(leftover)  # still recent: kept
    old = time.time() - 2 * launch.STALE_TMP_AGE
    os.utime(leftover, (old, old))
    assert guild(["run", "hello.py", "-y"], home).returncode == 0
    assert not os.path.exists(leftover)
    assert len(run_dirs(home)) == 2


def test_stale_creation_dirs_are_cleaned_only_when_old_and_abandoned(home):
    from luigi_guild.store.rundir import process_marker

    root = os.path.join(home, "runs")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead_marker = process_marker(dead.pid)  # taken while it may still exist
    dead.wait()
    cases = {
        ".tmp-live-1": process_marker(os.getpid()),  # its creator is alive
        ".tmp-dead-1": "%-10d\n1 %s\n" % (dead.pid, boot_id()),  # creator gone
        ".tmp-dead-2": dead_marker,
        ".tmp-empty-1": None,  # no creator recorded
    }
    now = time.time()
    for name, marker in cases.items():
        os.makedirs(os.path.join(root, name, ".guild"))
        if marker is not None:
            with open(os.path.join(root, name, ".guild", "PENDING"), "w") as f:
                f.write(marker)
    # Recent: nothing goes.
    assert launch.clean_stale_tmp(root, now=now) == []
    # Older than a minute: only abandoned ones with a known creator.
    later = now + 2 * launch.STALE_TMP_AGE
    assert sorted(launch.clean_stale_tmp(root, now=later)) == [".tmp-dead-1", ".tmp-dead-2"]
    # After a day, one with no recorded creator goes too; a live creator's never does.
    much_later = now + 2 * launch.STALE_TMP_AGE_UNKNOWN
    assert launch.clean_stale_tmp(root, now=much_later) == [".tmp-empty-1"]
    assert sorted(os.listdir(root)) == [".tmp-live-1"]


def test_attr_writes_are_atomic_for_a_concurrent_reader(home, tmp_path):
    """A reader process never sees a partly written attr while another process rewrites it."""
    assert guild(["run", "hello.py", "-y", "--run-id", "aaa"], home).returncode == 0
    run_dir = os.path.join(home, "runs", "aaa")
    stop = tmp_path / "stop"
    writer = tmp_path / "writer.py"
    writer.write_text(
        "import sys\n"
        "from luigi_guild.store.rundir import Run\n"
        "run = Run.for_dir(sys.argv[1])\n"
        "a = {'k%d' % i: 'a' * 50 for i in range(2000)}\n"
        "b = {'k%d' % i: 'b' * 50 for i in range(2000)}\n"
        "for i in range(200):\n"
        "    run.write_attr('flags', a if i % 2 else b)\n"
        "open(sys.argv[2], 'w').close()\n"
    )
    reader = tmp_path / "reader.py"
    reader.write_text(
        "import os, sys\n"
        "from luigi_guild.model import yamlutil\n"
        "from luigi_guild.store.rundir import Run\n"
        "run = Run.for_dir(sys.argv[1])\n"
        "ok = {yamlutil.encode({'k%d' % i: c * 50 for i in range(2000)}) + '\\n' for c in 'ab'}\n"
        "ok.add(run.read_raw_attr('flags'))\n"
        "reads = 0\n"
        "while not os.path.exists(sys.argv[2]) or reads < 10:\n"
        "    text = run.read_raw_attr('flags')\n"
        "    assert text in ok, 'partial attr: %d chars' % len(text)\n"
        "    reads += 1\n"
        "print('reads', reads)\n"
    )
    r = subprocess.Popen(
        [sys.executable, str(reader), run_dir, str(stop)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    w = subprocess.run([sys.executable, str(writer), run_dir, str(stop)], capture_output=True, text=True)
    assert w.returncode == 0, w.stderr
    out, err = r.communicate(timeout=60)
    assert r.returncode == 0, err
    assert out.startswith("reads ")
    assert not [n for n in os.listdir(os.path.join(run_dir, ".guild", "attrs")) if n.startswith(".tmp-")]


# --------------------------------------------------------------- storage errors


def _assert_one_error(res: subprocess.CompletedProcess, prefix: str) -> None:
    assert res.returncode != 0
    assert "Traceback" not in res.stderr
    lines = res.stderr.splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith(prefix), res.stderr


def test_guild_home_that_is_a_file(tmp_path):
    home = tmp_path / "home-file"
    home.write_text("not a directory\n")
    res = guild(["run", "hello.py", "-y"], str(home))
    _assert_one_error(res, "guild: cannot create run in %s/runs: Not a directory" % home)
    res = guild(["run", "hello.py", "-y", "--needed"], str(home))
    _assert_one_error(res, "guild: cannot lock hello.py in %s/locks: Not a directory" % home)
    listing = guild(["runs"], str(home))
    assert (listing.returncode, listing.stdout, listing.stderr) == (0, "", "")
    assert home.read_text() == "not a directory\n"


def _unshare_ok() -> bool:
    if not shutil.which("unshare"):
        return False
    res = subprocess.run(["unshare", "-m", "true"], capture_output=True)
    return res.returncode == 0


@pytest.mark.skipif(not _unshare_ok(), reason="needs unshare -m to make a read-only bind mount")
def test_read_only_guild_home(home):
    assert guild(["run", "hello.py", "-y", "--run-id", "aaa"], home).returncode == 0
    before = sorted(os.listdir(os.path.join(home, "runs")))

    def ro(args: list[str]) -> subprocess.CompletedProcess:
        script = 'mount --bind -o ro "$GUILD_HOME" "$GUILD_HOME" && exec "$@"'
        return subprocess.run(
            ["unshare", "-m", "sh", "-c", script, "sh"] + [sys.executable, "-m", "luigi_guild"] + args,
            cwd=PROJECT,
            env=guild_env(home),
            capture_output=True,
            text=True,
            timeout=120,
        )

    _assert_one_error(ro(["run", "hello.py", "-y"]), "guild: cannot create run in %s/runs: Read-only file system" % home)
    # Issue 18: --needed no longer fails on the lock file; with no match it fails making the run.
    _assert_one_error(ro(["run", "hello.py", "-y", "--needed", "x=5"]), "guild: cannot create run in %s/runs: Read-only file system" % home)
    _assert_one_error(ro(["run", "--restart", "aaa", "-y"]), "guild: cannot restart run aaa: Read-only file system")
    listing = ro(["runs"])
    assert listing.returncode == 0 and listing.stdout.startswith("[1:aaa]  hello.py")
    assert sorted(os.listdir(os.path.join(home, "runs"))) == before


def _fsize_limit(nbytes: int):
    def preexec() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, nbytes))

    return preexec


def test_full_disk_during_creation(home, tmp_path):
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "main.py").write_text("x = 1\n")
    (proj / "data.txt").write_text("x" * 200_000)  # a text file: Guild's rules copy it (not binary ones)
    res = guild(["run", "main.py", "-y", "--run-id", "aaa"], home, cwd=str(proj), preexec_fn=_fsize_limit(100_000))
    _assert_one_error(res, "guild: cannot create run aaa: File too large")
    assert os.listdir(os.path.join(home, "runs")) == []
    assert guild(["runs"], home).stdout == ""


def test_full_disk_while_saving_output(home):
    res = guild(["run", "loud.py", "-y", "--run-id", "aaa"], home, preexec_fn=_fsize_limit(100_000))
    assert res.stdout == ("x" * 1023 + "\n") * 200  # the output still reaches the terminal
    _assert_one_error(res, "guild: run aaa exited with status 0 but its output could not be saved: File too large")
    assert res.returncode == 1
    assert _status(home, "aaa") == "completed"


def test_stale_cleanup_skips_dirs_renamed_since_listing(tmp_path, monkeypatch):
    """A creation dir renamed into place between the listing and the stat is left alone."""
    from luigi_guild.run import create as launch

    runs_root = tmp_path / "runs"
    (runs_root / (launch.TMP_PREFIX + "gone-1234")).mkdir(parents=True)
    real_listdir = os.listdir
    monkeypatch.setattr(
        launch.os, "listdir", lambda p: real_listdir(p) + [launch.TMP_PREFIX + "renamed-5678"]
    )
    assert launch.clean_stale_tmp(str(runs_root)) == []
