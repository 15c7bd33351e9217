"""The corruption catalogue: one damaged run (or index) never breaks a command.

Each kind of damage below is applied to one run (``x=2``) of a home that also
holds two intact runs; then every command that reads runs is run as a real
process against the damaged run and against the listing. Each must finish in
bounded time, with no traceback, without showing or changing the decoy file
that links point at, without a wrong ``--needed`` match, and listings still
show the intact runs; a damaged run met is named on one ``WARNING`` line.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import pytest

from helpers import write_project

SCRIPT = "x = 1\nprint('out', x)\n"
DECOY_TEXT = "DECOY-SECRET-TEXT\n"
# Wall time any one command may take (it is a few tenths of a second when healthy).
BOUND_S = 20.0


def _guild(args: list[str], home: str, cwd: str) -> tuple[subprocess.CompletedProcess, float]:
    env = dict(os.environ, GUILD_HOME=home, COLUMNS="999", NO_WATCHING_MSG="1")
    t0 = time.monotonic()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "luigi_guild", *args],
            cwd=cwd,
            env=env,
            capture_output=True,
            timeout=BOUND_S,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("guild %s hung (over %ss)" % (" ".join(args), BOUND_S))
    return proc, time.monotonic() - t0


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = str(tmp_path_factory.mktemp("corrupt"))
    project = write_project(os.path.join(root, "p"), {"t.py": SCRIPT})
    home = os.path.join(root, "home")
    ids = {}
    for x in ("1", "2", "3"):
        proc, _ = _guild(["run", "-y", "t.py", "x=" + x], home, project)
        assert proc.returncode == 0, proc.stderr
    for name in os.listdir(os.path.join(home, "runs")):
        with open(os.path.join(home, "runs", name, ".guild", "attrs", "flags")) as f:
            ids[f.read().strip().split()[-1]] = name
    # A listing now leaves a saved run index, so damage also meets a warm cache.
    proc, _ = _guild(["runs"], home, project)
    assert proc.returncode == 0
    return {"root": root, "project": project, "home": home, **{"x" + k: v for k, v in ids.items()}}


def _write(path: str, data: bytes) -> None:
    if os.path.lexists(path):
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.remove(path)
    with open(path, "wb") as f:
        f.write(data)


def _replace_with(path: str, make: str, decoy: str = "") -> None:
    """Replace ``path`` with a directory, a FIFO, a huge sparse file or a link to ``decoy``."""
    if os.path.lexists(path):
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.remove(path)
    if make == "dir":
        os.mkdir(path)
    elif make == "fifo":
        os.mkfifo(path)
    elif make == "huge":
        with open(path, "wb") as f:
            f.truncate(3 * 1024**3)
    elif make == "link":
        os.symlink(decoy, path)
    else:
        raise AssertionError(make)


BOMB = (
    b"a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    + b"".join(
        b"%s: &%s [%s]\n" % (c.encode(), c.encode(), b", ".join([b"*" + p.encode()] * 10))
        for p, c in zip("abcdefgh", "bcdefghi")
    )
)

# kind -> (file relative to the run dir or "INDEX", how to damage it)
DAMAGE: dict[str, tuple[str, object]] = {
    "exit_status 5000 digits": (".guild/attrs/exit_status", b"9" * 5000 + b"\n"),
    "started 5000 digits": (".guild/attrs/started", b"1" * 5000 + b"\n"),
    "exit_status a directory": (".guild/attrs/exit_status", "dir"),
    "exit_status a FIFO": (".guild/attrs/exit_status", "fifo"),
    "LOCK.remote not UTF-8": (".guild/LOCK.remote", b"\xff\xfe\x80remote\n"),
    "label not UTF-8": (".guild/attrs/label", b"\xff\xfe\x80\n"),
    "tags not UTF-8": (".guild/attrs/tags", b"- \xff\xfe\x80\n"),
    "flags not UTF-8": (".guild/attrs/flags", b"x: \xff\xfe\x80\n"),
    "opref not UTF-8": (".guild/opref", b"\xff\xfe\x80\n"),
    "flags YAML bomb": (".guild/attrs/flags", BOMB),
    "flags deeply nested": (".guild/attrs/flags", b"x: " + b"[" * 50000 + b"\n"),
    "flags a python tag": (".guild/attrs/flags", b"x: !!python/object/apply:os.mkdir ['@MARKER@']\n"),
    "flags huge sparse file": (".guild/attrs/flags", "huge"),
    "LOCK a FIFO": (".guild/LOCK", "fifo"),
    "output a FIFO": (".guild/output", "fifo"),
    "index is /dev/zero": ("INDEX", "/dev/zero"),
    "index a FIFO": ("INDEX", "fifo"),
    "index huge sparse file": ("INDEX", "huge"),
    "attrs a FIFO": (".guild/attrs", "fifo"),
    "label a link out of the run": (".guild/attrs/label", "link"),
    "output a link out of the run": (".guild/output", "link"),
}


# Damage a plain listing does not read (the index is rebuilt; tags and output are read by other commands).
_LISTING_UNSEEN = {"tags not UTF-8", "output a FIFO", "output a link out of the run"}


def _warns_in_listing(kind: str) -> bool:
    return DAMAGE[kind][0] != "INDEX" and kind not in _LISTING_UNSEEN


def _damage(home: str, run_dir: str, kind: str, decoy: str) -> None:
    rel, how = DAMAGE[kind]
    if rel == "INDEX":
        path = os.path.join(home, "cache", "runs-index")
        assert os.path.exists(path)
        if isinstance(how, str) and how.startswith("/"):
            os.remove(path)
            os.symlink(how, path)
        else:
            _replace_with(path, str(how))
        return
    path = os.path.join(run_dir, rel)
    if rel.endswith("exit_status") or rel.endswith("LOCK"):
        # A damaged LOCK matters only while there is no exit status.
        if "LOCK" in rel and os.path.exists(os.path.join(run_dir, ".guild/attrs/exit_status")):
            os.remove(os.path.join(run_dir, ".guild/attrs/exit_status"))
    if isinstance(how, bytes):
        _write(path, how.replace(b"@MARKER@", (decoy + ".made").encode()))
    else:
        _replace_with(path, str(how), decoy)


def _commands(bad: str, good: str, kind: str) -> list[list[str]]:
    rel, how = DAMAGE[kind]
    cmds = [
        ["runs"],
        ["runs", "-a", "--json"],
        ["runs", "-Ft", "x", "-Fl", "x"],
        ["runs", "-Fo", "t.py", "-Sc"],
        ["select", bad],
        ["runs", "info", bad],
        ["runs", "info", good],
        ["cat", "--output", bad],
        ["ls", "-a", bad],
        ["watch", bad],
        ["label", "--set", "hello", "-y", good],
        ["tag", "--add", "t1", "-y", good],
        ["stop", "-y", bad],
    ]
    if rel != "INDEX" and how != "huge":  # a huge file is content cat must print in full
        cmds.append(["cat", "-p", rel, bad])
    return cmds


@pytest.mark.parametrize("kind", list(DAMAGE))
def test_damaged_run_never_breaks_a_command(kind: str, base: dict[str, str], tmp_path) -> None:
    home = str(tmp_path / "home")
    shutil.copytree(base["home"], home, symlinks=True)
    decoy = str(tmp_path / "decoy.txt")
    with open(decoy, "w") as f:
        f.write(DECOY_TEXT)
    bad, good, other = base["x2"], base["x1"], base["x3"]
    bad_dir = os.path.join(home, "runs", bad)
    _damage(home, bad_dir, kind, decoy)
    decoy_before = os.stat(decoy)
    project = base["project"]

    for args in _commands(bad, good, kind):
        proc, took = _guild(args, home, project)
        out = proc.stdout.decode("utf-8", "replace")
        err = proc.stderr.decode("utf-8", "replace")
        what = "%s: guild %s -> %s\n%s" % (kind, " ".join(args), proc.returncode, err[-2000:])
        assert "Traceback" not in err, what
        assert "Aborted" not in err, what
        assert DECOY_TEXT.strip() not in out + err, what
        assert proc.returncode in (0, 1), what
        # Each damaged run met is named once, on one WARNING line; nothing else but the error line.
        warnings = [ln for ln in err.splitlines() if ln.startswith("WARNING: run ")]
        assert len(warnings) <= 1, what
        assert all(ln.startswith("WARNING: run %s is damaged: .guild/" % bad) for ln in warnings), what
        if proc.returncode:
            rest = [ln for ln in err.splitlines() if ln not in warnings]
            assert rest and rest[0].startswith("guild: "), what
        if args == ["runs"]:
            assert proc.returncode == 0, what
            assert good[:8] in out and other[:8] in out, what
            assert bool(warnings) == _warns_in_listing(kind), what
        if args[:2] == ["runs", "-a"]:
            assert proc.returncode == 0 and good in out and other in out, what

    # --needed: the intact x=1 run still matches; the damaged one matches only if its status still counts.
    proc, _ = _guild(["run", "-y", "--needed", "t.py", "x=1"], home, project)
    err = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 0 and "Traceback" not in err, (kind, err)
    assert "Skipping" in proc.stdout.decode() + err, (kind, err)

    before = set(os.listdir(os.path.join(home, "runs")))
    proc, _ = _guild(["run", "-y", "--needed", "t.py", "x=2"], home, project)
    err = proc.stderr.decode("utf-8", "replace")
    out = proc.stdout.decode("utf-8", "replace")
    assert "Traceback" not in err, (kind, err)
    assert proc.returncode == 0, (kind, err)
    after = set(os.listdir(os.path.join(home, "runs")))
    status, flags, op = _seen_as(home, bad)
    # Completed and terminated runs match; so do running and staged ones (Guild's --needed counts them too).
    if status in ("completed", "terminated", "running", "staged") and flags == "{'x': 2}" and op == "t.py":
        assert "Skipping" in out + err and after == before, kind
    else:  # a damaged run is never a match
        assert len(after - before) == 1, (kind, status, flags, op, out, err)

    # Nothing outside the home was read into output above or written.
    assert os.stat(decoy).st_mtime_ns == decoy_before.st_mtime_ns
    with open(decoy) as f:
        assert f.read() == DECOY_TEXT
    assert not os.path.exists(decoy + ".made"), "a YAML tag ran code"


def _seen_as(home: str, run_id: str) -> list[str]:
    """The damaged run's status, flags and operation as the run store reads them."""
    code = (
        "import os,sys; os.environ['GUILD_HOME']=sys.argv[1];"
        "from luigi_guild.store.rundir import Run;"
        "r = Run.for_dir(os.path.join(sys.argv[1], 'runs', sys.argv[2]));"
        "print(r.status); print(r.flags); print(r.op_name)"
    )
    proc = subprocess.run([sys.executable, "-c", code, home, run_id], capture_output=True, text=True, timeout=BOUND_S)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()
