"""Links out of a run directory (issue 18, item 1): nothing is written through them,
nothing outside the run is read through them, pulled runs lose them.

A decoy file outside the run stands for the file a hostile link points at:
its content must never be shown and never change.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from helpers import guild, write_project

SCRIPT = "x = 1\nprint('own output', x)\n"
DECOY = "DECOY-SECRET-TEXT\n"


@pytest.fixture
def one_run(tmp_path: Path) -> dict[str, str]:
    project = write_project(str(tmp_path / "p"), {"t.py": SCRIPT})
    home = str(tmp_path / "home")
    res = guild("run", "-y", "t.py", cwd=project, home=home)
    assert res.exit_code == 0, res.err
    (run_id,) = os.listdir(os.path.join(home, "runs"))
    decoy = tmp_path / "decoy.txt"
    decoy.write_text(DECOY)
    return {"project": project, "home": home, "id": run_id, "dir": os.path.join(home, "runs", run_id), "decoy": str(decoy)}


def _link(path: str, target: str) -> None:
    if os.path.lexists(path):
        os.remove(path)
    os.symlink(target, path)


@pytest.mark.parametrize("name", ["output", "output.index", "LOCK", "attrs/exit_status", "attrs/started", "PENDING"])
def test_restart_never_writes_through_a_link(one_run: dict[str, str], name: str) -> None:
    path = os.path.join(one_run["dir"], ".guild", name)
    _link(path, one_run["decoy"])
    res = guild("run", "-y", "--restart", one_run["id"], cwd=one_run["project"], home=one_run["home"])
    assert res.exit_code == 0, res.err
    assert Path(one_run["decoy"]).read_text() == DECOY
    # The link was replaced by the run's own file (or removed, for LOCK and PENDING).
    assert not os.path.islink(path)
    if name in ("output", "attrs/exit_status"):
        assert stat.S_ISREG(os.lstat(path).st_mode)
    out = guild("cat", "--output", cwd=one_run["project"], home=one_run["home"])
    assert out.out == "own output 1\n"


def test_label_and_tag_never_write_through_a_link(one_run: dict[str, str]) -> None:
    for name in ("label", "tags"):
        _link(os.path.join(one_run["dir"], ".guild", "attrs", name), one_run["decoy"])
    for args in (["label", "--set", "hi", "-y"], ["tag", "--add", "t", "-y"]):
        res = guild(*args, cwd=one_run["project"], home=one_run["home"])
        assert res.exit_code == 0, res.err
    assert Path(one_run["decoy"]).read_text() == DECOY


@pytest.mark.parametrize("linked", [".guild/output", ".guild", ".guild/attrs", ".guild/attrs/label", ".guild/opref"])
def test_reads_for_users_never_leave_the_run(one_run: dict[str, str], linked: str, tmp_path: Path) -> None:
    # A directory link points at a copy of the run's own directory whose files hold the decoy text.
    path = os.path.join(one_run["dir"], linked)
    if linked in (".guild", ".guild/attrs"):
        fake = tmp_path / "fake"
        subprocess.run(["cp", "-a", path, str(fake)], check=True)
        for dirpath, _, files in os.walk(fake):
            for f in files:
                Path(dirpath, f).write_text(DECOY if f != "opref" else "script:'/x' '' '' DECOY-SECRET-TEXT\n")
        subprocess.run(["rm", "-rf", path], check=True)
        os.symlink(str(fake), path)
    else:
        _link(path, one_run["decoy"])
    for args in (
        ["cat", "--output", one_run["id"]],
        ["watch", one_run["id"]],
        ["runs", "info", one_run["id"]],
        ["runs", "--json"],
        ["runs"],
        ["select", "-a", "label"],
    ):
        res = guild(*args, cwd=one_run["project"], home=one_run["home"], env={"NO_WATCHING_MSG": "1"})
        assert "Traceback" not in res.err, res.err
        assert "DECOY" not in res.out + res.err, (args, res.out, res.err)


def test_cat_link_swapped_while_reading_never_leaks(one_run: dict[str, str]) -> None:
    """A link switched between a run file and an outside file while ``cat -p`` opens it:
    the outside file is refused every time, never read (no check-then-open race)."""
    code = textwrap.dedent(
        """
        import os, sys, threading
        os.environ["GUILD_HOME"] = sys.argv[1]
        from luigi_guild.model.errors import GuildError
        from luigi_guild.store import files
        from luigi_guild.store.rundir import Run
        run = Run.for_dir(sys.argv[2]); decoy = sys.argv[3]
        link = os.path.join(run.path, "swap")
        inside = os.path.join(run.path, "t.py")
        stop = False
        def swapper():
            i = 0
            while not stop:
                tmp = link + ".new"
                os.symlink(decoy if i % 2 else inside, tmp)
                os.replace(tmp, link)
                i += 1
        t = threading.Thread(target=swapper); t.start()
        leaks = ok = refused = 0
        try:
            # At least 3,000 opens, and on until both states were seen (thread switches are uneven under load).
            for i in range(300000):
                if i >= 3000 and ok and refused:
                    break
                try:
                    _, fd = files.open_file(run, "swap")
                except GuildError:
                    refused += 1
                    continue
                with os.fdopen(fd, "rb") as f:
                    data = f.read()
                if b"DECOY" in data:
                    leaks += 1
                else:
                    ok += 1
        finally:
            stop = True
            t.join()
        print(leaks, ok, refused)
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, one_run["home"], one_run["dir"], one_run["decoy"]],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    leaks, ok, refused = map(int, proc.stdout.split())
    assert leaks == 0
    assert ok > 0 and refused > 0  # both states were seen: the race was really run


def test_cat_follows_links_inside_runs(one_run: dict[str, str]) -> None:
    # Pipelines link upstream runs' files: a link to another run's file is read.
    os.symlink(os.path.join(one_run["dir"], "t.py"), os.path.join(one_run["dir"], "via-link"))
    res = guild("cat", "-p", "via-link", cwd=one_run["project"], home=one_run["home"])
    assert res.exit_code == 0 and res.out == SCRIPT, res.err


def test_pull_drops_links_leaving_the_run_and_setuid_bits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    here, there = tmp_path / "here", tmp_path / "there"
    config = tmp_path / "config.yml"
    config.write_text("remotes:\n  other:\n    type: local\n    guild-home: %s\n" % there)
    project = write_project(str(tmp_path / "p"), {"t.py": SCRIPT})
    env = {"GUILD_CONFIG": str(config)}
    assert guild("run", "-y", "t.py", cwd=project, home=str(there), env=env).exit_code == 0
    (run_id,) = os.listdir(there / "runs")
    remote_dir = there / "runs" / run_id
    decoy = tmp_path / "decoy.txt"
    decoy.write_text(DECOY)
    os.symlink(str(decoy), remote_dir / "abs-out")
    os.symlink("../../../decoy.txt", remote_dir / "rel-out")
    os.symlink("t.py", remote_dir / "inside")
    os.symlink(str(remote_dir / "t.py"), remote_dir / "abs-inside-there")  # leaves the pulled copy
    (remote_dir / "tool").write_text("#!/bin/sh\n")
    os.chmod(remote_dir / "tool", 0o6755)
    res = guild("pull", "other", "-y", cwd=project, home=str(here), env=env)
    assert res.exit_code == 0, res.err
    pulled = here / "runs" / run_id
    assert sorted(p.name for p in pulled.iterdir() if p.is_symlink()) == ["inside"]
    assert os.readlink(pulled / "inside") == "t.py"
    assert stat.S_IMODE(os.stat(pulled / "tool").st_mode) == 0o755
    assert not [n for n in os.listdir(here / "runs") if n.startswith(".tmp-pull-")]
