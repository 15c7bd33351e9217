"""Issue 18's smaller points: guild.yml damage, NUL flag values, stale temp files,
``--needed`` on a read-only home, the source-copy limit. Each is one ``guild: ...``
line (or a warning), never a traceback."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import pytest

from helpers import guild, write_project

SCRIPT = "x = 1\nprint('x', x)\n"


def _one_error_line(res, expected_start: str) -> None:
    assert res.exit_code == 1, (res.out, res.err)
    assert "Traceback" not in res.err, res.err
    lines = res.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(expected_start), res.err


@pytest.mark.parametrize(
    "yml,first",
    [
        ('op:\n  exec: "python -c \\"print(1)"\n', "guild: error in {p}/guild.yml: invalid 'exec' for operation 'op': No closing quotation"),
        ("op:\n  main: t\n  flags:\n    x: " + "[" * 3000 + "]" * 3000 + "\n", "guild: error in {p}/guild.yml: invalid YAML"),
        ("op:\n  main: t\n  flags:\n    x: " + "{a: " * 1500 + "1" + "}" * 1500 + "\n", "guild: error in {p}/guild.yml: invalid YAML"),
        (
            "up:\n  main: t\nop:\n  main: t\n  requires:\n    - operation: up\n      select: '(['\n",
            "guild: error in {p}/guild.yml: invalid select pattern '([' in requires of operation 'op'",
        ),
        ('op:\n  main: t\n  flags:\n    x: "a\\0b"\n', "guild: invalid value for flag 'x': it contains a NUL character"),
    ],
    ids=["exec-unclosed-quote", "nested-lists", "nested-maps", "bad-select-regex", "nul-in-flag"],
)
def test_bad_guildfile_gives_one_line(yml: str, first: str, tmp_path) -> None:
    project = write_project(str(tmp_path / "p"), {"t.py": SCRIPT})
    with open(os.path.join(project, "guild.yml"), "w") as f:
        f.write(yml)
    home = str(tmp_path / "home")
    for args in (["run", "-y", "op"], ["run", "-y", "op", "--build-deps"]):
        res = guild(*args, cwd=project, home=home)
        _one_error_line(res, first.format(p=project))
    assert not os.path.isdir(os.path.join(home, "runs")) or os.listdir(os.path.join(home, "runs")) == []


def test_stale_attr_temp_files_are_removed_on_restart(tmp_path) -> None:
    project = write_project(str(tmp_path / "p"), {"t.py": SCRIPT})
    home = str(tmp_path / "home")
    assert guild("run", "-y", "t.py", cwd=project, home=home).exit_code == 0
    run_dir = os.path.join(home, "runs", os.listdir(os.path.join(home, "runs"))[0])
    attrs = os.path.join(run_dir, ".guild", "attrs")
    old, fresh, link = (os.path.join(attrs, n) for n in (".tmp-0ld", ".tmp-fresh", ".tmp-link"))
    decoy = str(tmp_path / "decoy")
    for path in (old, fresh, decoy):
        with open(path, "w") as f:
            f.write("half")
    os.symlink(decoy, link)
    hour_ago = time.time() - 3600
    os.utime(old, (hour_ago, hour_ago))
    os.utime(link, (hour_ago, hour_ago), follow_symlinks=False)
    res = guild("run", "-y", "--restart", os.path.basename(run_dir), cwd=project, home=home)
    assert res.exit_code == 0, res.err
    assert not os.path.exists(old)  # left by a writer killed long ago: removed
    assert os.path.exists(fresh)  # may belong to a write going on now: kept
    assert os.path.exists(decoy)  # links are never followed


def _can_mount() -> str | None:
    if shutil.which("unshare") is None:
        return "unshare is not installed"
    probe = subprocess.run(["unshare", "-m", "sh", "-c", "mount -t tmpfs none /mnt"], capture_output=True, text=True)
    if probe.returncode != 0:
        return "mounting is not allowed here: %s" % probe.stderr.strip()
    return None


def test_needed_on_a_read_only_home_skips(tmp_path) -> None:
    why = _can_mount()
    if why:
        pytest.skip(why)
    project = write_project(str(tmp_path / "p"), {"t.py": SCRIPT})
    home = str(tmp_path / "home")
    assert guild("run", "-y", "t.py", cwd=project, home=home).exit_code == 0
    py = sys.executable
    script = (
        'mount --bind "$H" "$H" && mount -o remount,ro,bind "$H" && '
        'cd "$P" && "$PY" -m luigi_guild run -y --needed t.py; echo "rc=$?"; '
        '"$PY" -m luigi_guild run -y --needed t.py x=2; echo "rc=$?"'
    )
    env = dict(os.environ, GUILD_HOME=home, H=home, P=project, PY=py, COLUMNS="999")
    proc = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, env=env, timeout=60)
    assert "Traceback" not in proc.stderr, proc.stderr
    first, second = proc.stdout.split("rc=")[:2], proc.stdout.split("rc=")[2]
    assert first[0].startswith("Skipping because the following runs match"), proc.stdout
    assert first[1].startswith("0"), proc.stdout
    assert second.startswith("1"), proc.stdout  # no match: the run cannot be made
    assert proc.stderr.strip().splitlines() == ["guild: cannot create run in %s/runs: Read-only file system" % home]


def test_source_copy_limit_warns(tmp_path) -> None:
    files = {"t.py": SCRIPT}
    files.update({"data/f%03d.txt" % i: "x\n" for i in range(120)})
    project = write_project(str(tmp_path / "p"), files)
    home = str(tmp_path / "home")
    res = guild("run", "-y", "t.py", cwd=project, home=home)
    assert res.exit_code == 0, res.err
    warnings = [line for line in res.err.splitlines() if line.startswith("WARNING:")]
    assert len(warnings) == 1 and "Found more than 100 source code files" in warnings[0], res.err
    small = write_project(str(tmp_path / "small"), {"t.py": SCRIPT})
    res = guild("run", "-y", "t.py", cwd=small, home=home)
    assert res.exit_code == 0 and "WARNING" not in res.err, res.err


FILL_PY = """\
print("filling", flush=True)
try:
    with open("big", "wb") as f:
        while True:
            f.write(b"x" * 65536)
            f.flush()
except OSError as e:
    print("disk full:", e.strerror, flush=True)
for i in range(50):
    print("line", i, "x" * 80, flush=True)
print("done", flush=True)
"""


def test_full_disk_still_records_exit_status_and_stopped(tmp_path) -> None:
    """A real full file system (a 1 MiB tmpfs in a private mount namespace), filled by the script."""
    why = _can_mount()
    if why:
        pytest.skip(why)
    project = write_project(str(tmp_path / "p"), {"fill.py": FILL_PY})
    home = str(tmp_path / "home")
    os.makedirs(home)
    script = (
        'mount -t tmpfs -o size=1m tmpfs "$H" || exit 99; cd "$P"; '
        '"$PY" -m luigi_guild run -y fill.py > /dev/null; echo "rc=$?"; '
        '"$PY" -m luigi_guild select -a exit_status; "$PY" -m luigi_guild select -a stopped; '
        '"$PY" -m luigi_guild runs -s; ls -a "$H"/runs/*/.guild/attrs'
    )
    env = dict(os.environ, GUILD_HOME=home, H=home, P=project, PY=sys.executable, COLUMNS="999")
    proc = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "rc=1", proc.stdout + proc.stderr
    assert lines[1] == "0", proc.stdout  # the script's exit status, recorded on the full disk
    assert lines[2].isdigit(), proc.stdout  # stopped
    assert "completed" in lines[3], proc.stdout
    assert not [n for n in lines[4:] if n.startswith(".reserved-")], proc.stdout  # set-aside space released
    errors = [line for line in proc.stderr.splitlines() if line.startswith("guild:")]
    assert len(errors) == 1 and "exited with status 0 but its output could not be saved: No space left on device" in errors[0]
