"""The run index is only a cache: whatever happens to the run directories
behind its back, ``guild runs`` and ``--needed`` answer from the files.

Most tests run the CLI in-process so they can make every stamp count as
settled at once (``RACY_NS = 0``); without that, runs younger than a few
seconds are always re-read and the cached path would never be exercised.
A short pause separates a read from the edit that follows it, so the edit
lands in a later filesystem clock tick (as it would in real use).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from luigi_guild import cli, entry
from luigi_guild.store import index as runindex
from luigi_guild.store import query as runstore
from luigi_guild.model import home as homelib
from luigi_guild.commands.common import run_rows
from luigi_guild.model.opref import OpRef
from luigi_guild.store.rundir import Run
from luigi_guild.model.table import format_table

sys.path.insert(0, os.path.dirname(__file__))
import perf_fixtures  # noqa: E402
from perf_fixtures import write_in_place  # noqa: E402

N = 5


def tick() -> None:
    """Let the filesystem's coarse clock move on before the next write."""
    time.sleep(0.03)


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A Guild home with N completed echo.py runs (guildai layout); cwd = the project."""
    h = tmp_path / "home"
    proj = tmp_path / "proj"
    ids = perf_fixtures.make_home(str(h), N, str(proj))
    monkeypatch.setenv("GUILD_HOME", str(h))
    monkeypatch.chdir(proj)
    monkeypatch.setattr(runindex, "RACY_NS", 0)
    monkeypatch.setattr(homelib, "_override", None)  # -H sets it for the process
    tick()
    return {"home": str(h), "runs": str(h / "runs"), "proj": str(proj), "ids": ids}


def guild(capsys, *args: str, main=entry.main) -> tuple[int, str, str]:
    """Run ``guild ARGS`` in this process; returns (exit code, stdout, stderr)."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        main(list(args))
    out, err = capsys.readouterr()
    return e.value.code or 0, out, err


def listing(capsys, *args: str) -> list[str]:
    code, out, _ = guild(capsys, "runs", *args)
    assert code == 0
    return out.splitlines()


def truth(root: str) -> list[str]:
    """The run table computed from the files alone (no index involved)."""
    runs = []
    for name in os.listdir(root):
        if os.path.exists(os.path.join(root, name, ".guild", "opref")):
            runs.append(Run(name, os.path.join(root, name)))
    return format_table(run_rows(runstore.sort_runs(runs)))


def row_of(lines: list[str], run_id: str) -> str:
    [row] = [line for line in lines if ":%s]" % run_id[:8] in line]
    return row


def attr_path(h: dict, i: int, name: str) -> str:
    return os.path.join(h["runs"], h["ids"][i], ".guild", "attrs", name)


def read_bytes(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def echo_opref(h: dict) -> OpRef:
    return OpRef("script", h["proj"], "", "", "echo.py")


DEFAULTS = {"x": 1.0, "y": 2, "z": "a"}  # echo.py's flags; run 0 has them


# ------------------------------------------------------------------ listing


def test_listing_matches_files_and_builds_index(home, capsys):
    assert listing(capsys, "--all") == truth(home["runs"])
    assert os.path.exists(os.path.join(home["home"], "cache", "runs-index"))
    assert listing(capsys, "--all") == truth(home["runs"])


@pytest.mark.parametrize(
    "args",
    [
        ["runs"],
        ["runs", "list"],
        ["runs", "-a"],
        ["runs", "list", "--all"],
        ["runs", "-n", "2"],
        ["runs", "--limit=3"],
        ["runs", "-m"],
        ["runs", "-mm", "--more"],
        ["-H", "HOME", "runs"],
    ],
)
def test_fast_path_prints_what_click_prints(home, capsys, monkeypatch, args):
    for i in range(25):
        perf_fixtures.write_run(home["runs"], "%032x" % i, perf_fixtures.script_opref(home["proj"]), {"x": i}, 10**15 + i)
    args = [home["home"] if a == "HOME" else a for a in args]
    assert entry._parse_runs_list(args) is not None
    fast = guild(capsys, *args)
    monkeypatch.setattr(entry, "_parse_runs_list", lambda a: None)
    slow = guild(capsys, *args)
    assert fast == guild(capsys, *args, main=cli.main) == slow
    assert fast[1]


@pytest.mark.parametrize(
    "args",
    [["runs", "-h"], ["runs", "-n"], ["runs", "-n", "x"], ["runs", "-n", "-1"], ["runs", "-a", "-n", "2"],
     ["runs", "-x"], ["runs", "rm"], ["run"]],
)
def test_fast_path_leaves_the_rest_to_click(args):
    assert entry._parse_runs_list(args) is None


def test_unchanged_runs_are_not_read_again(home, capsys, monkeypatch):
    listing(capsys, "--all")
    reads = []
    real = runindex.read_entry
    monkeypatch.setattr(runindex, "read_entry", lambda d, *a: reads.append(os.path.basename(d)) or real(d, *a))
    listing(capsys, "--all")
    assert reads == []
    tick()
    write_in_place(attr_path(home, 2, "label"), "edited\n")
    listing(capsys, "--all")
    assert reads == [home["ids"][2]]


@pytest.mark.parametrize(
    "edit, status",
    [
        (lambda h: write_in_place(attr_path(h, 3, "exit_status"), "1\n"), "error"),
        (lambda h: write_in_place(attr_path(h, 3, "exit_status"), "-9\n"), "terminated"),
        (lambda h: Run.for_dir(os.path.join(h["runs"], h["ids"][3])).write_attr("exit_status", -15), "terminated"),
        (lambda h: Run.for_dir(os.path.join(h["runs"], h["ids"][3])).touch("PENDING"), "pending"),
        (lambda h: Run.for_dir(os.path.join(h["runs"], h["ids"][3])).touch("STAGED"), "staged"),
        (lambda h: write_in_place(os.path.join(h["runs"], h["ids"][3], ".guild", "LOCK.remote"), "uat"), "running (uat)"),
    ],
    ids=["exit-1-in-place", "exit-minus-9-in-place", "exit-renamed", "pending", "staged", "lock-remote"],
)
def test_status_change_is_seen(home, capsys, edit, status):
    before = row_of(listing(capsys), home["ids"][3])
    assert "completed" in before
    tick()
    edit(home)
    after = row_of(listing(capsys), home["ids"][3])
    assert "  %s  " % status in after
    assert listing(capsys, "--all") == truth(home["runs"])


def test_live_and_dead_lock_are_checked_every_time(home, capsys):
    run_dir = os.path.join(home["runs"], home["ids"][1])
    listing(capsys)
    tick()
    os.remove(attr_path(home, 1, "exit_status"))
    write_in_place(os.path.join(run_dir, ".guild", "LOCK"), str(os.getpid()))
    assert "  running  " in row_of(listing(capsys), home["ids"][1])
    assert "  running  " in row_of(listing(capsys), home["ids"][1])
    # the pid dies: the LOCK file is unchanged, only the process is gone
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        tick()
        write_in_place(os.path.join(run_dir, ".guild", "LOCK"), str(proc.pid))
        assert "  running  " in row_of(listing(capsys), home["ids"][1])
    finally:
        proc.kill()
        proc.wait()
    assert "  error  " in row_of(listing(capsys), home["ids"][1])


def test_label_edits_are_seen(home, capsys):
    listing(capsys, "--all")
    tick()
    write_in_place(attr_path(home, 4, "label"), "in place\n")
    assert row_of(listing(capsys), home["ids"][4]).endswith("  in place")
    tick()
    Run.for_dir(os.path.join(home["runs"], home["ids"][4])).write_attr("label", "renamed")
    assert row_of(listing(capsys, "--all"), home["ids"][4]).endswith("  renamed")
    tick()
    os.remove(attr_path(home, 4, "label"))
    assert row_of(listing(capsys), home["ids"][4]).endswith("completed")


def test_restart_reorders(home, capsys):
    oldest = home["ids"][0]
    assert ":%s]" % oldest[:8] in listing(capsys)[-1]
    tick()
    run = Run.for_dir(os.path.join(home["runs"], oldest))
    run.touch("PENDING")  # a start touches sentinels, then writes 'started'
    write_in_place(attr_path(home, 0, "started"), "%d\n" % (perf_fixtures.BASE_US + 10**12))
    run.remove("PENDING")
    assert listing(capsys)[0].startswith("[1:%s]" % oldest[:8])


def test_deleted_and_added_runs_are_seen_at_once(home, capsys):
    listing(capsys)
    import shutil

    shutil.rmtree(os.path.join(home["runs"], home["ids"][2]))
    lines = listing(capsys)
    assert len(lines) == N - 1 and not any(home["ids"][2][:8] in line for line in lines)
    # another process writes a run in guildai's layout by hand
    code = (
        "import sys; sys.path.insert(0, %r); import perf_fixtures as p; "
        "p.write_run(%r, 'feedbeef' * 4, p.script_opref(%r), {'x': 9.5, 'y': 2, 'z': 'a'}, p.BASE_US + 10**9)"
        % (os.path.dirname(__file__), home["runs"], home["proj"])
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    lines = listing(capsys)
    assert lines[0].startswith("[1:feedbeef]") and lines[0].endswith("completed  x=9.5 y=2 z=a")
    assert listing(capsys, "--all") == truth(home["runs"])


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty", "deleted", "other-version"])
def test_damaged_index_is_rebuilt(home, capsys, damage):
    expected = truth(home["runs"])
    assert listing(capsys, "--all") == expected
    path = os.path.join(home["home"], "cache", "runs-index")
    data = read_bytes(path)
    if damage == "deleted":
        os.remove(path)
    else:
        new = {
            "garbage": os.urandom(len(data)),
            "truncated": data[: len(data) // 2],
            "empty": b"",
            "other-version": b"LGRI999" + data[7:],
        }[damage]
        with open(path, "wb") as f:
            f.write(new)
    assert listing(capsys, "--all") == expected
    heads, load_bodies, _file_id = runindex._read_index(path, home["runs"])
    assert heads.keys() == set(home["ids"]) and load_bodies is not None
    assert load_bodies().keys() == set(home["ids"])


def test_damaged_body_section_falls_back_to_files(home, capsys):
    listing(capsys, "--all")
    path = os.path.join(home["home"], "cache", "runs-index")
    data = bytearray(read_bytes(path))
    data[-5] ^= 0xFF  # inside the bodies section: heads still load
    with open(path, "wb") as f:
        f.write(bytes(data))
    assert listing(capsys, "--all") == truth(home["runs"])


def test_runs_written_by_hand_while_index_is_in_use(home):
    index = runindex.RunIndex.load(home["runs"])
    assert len(index.runs()) == N
    index.save()
    perf_fixtures.write_run(home["runs"], "a" * 32, perf_fixtures.script_opref(home["proj"]), DEFAULTS, 1)
    again = runindex.RunIndex.load(home["runs"])
    assert [r.id for r in again.runs()][-1] == "a" * 32


# ------------------------------------------------------------------ --needed


def needed_ids(h: dict, flags: dict) -> list[str]:
    return [r.id for r in runstore.needed(echo_opref(h), flags)]


def test_needed_skip_uses_files(home, capsys):
    code, out, _ = guild(capsys, "run", "echo.py", "--needed", "-y")
    assert code == 0
    assert out.startswith("Skipping because the following runs match this operation (--needed specified):\n")
    assert "  [%s]  echo.py  " % home["ids"][0][:8] in out
    assert len(os.listdir(home["runs"])) == N


def test_needed_sees_status_change_of_match(home, capsys):
    assert needed_ids(home, DEFAULTS) == [home["ids"][0]]
    tick()
    write_in_place(attr_path(home, 0, "exit_status"), "1\n")
    assert needed_ids(home, DEFAULTS) == []
    code, out, _ = guild(capsys, "run", "echo.py", "--needed", "-y")
    assert code == 0 and out == "1.0 2 a\n"
    assert len(os.listdir(home["runs"])) == N + 1
    assert len(needed_ids(home, DEFAULTS)) == 1


@pytest.mark.parametrize("how", ["in-place", "renamed"])
def test_needed_sees_flags_edits(home, how):
    assert needed_ids(home, {"x": 3.0, "y": 2, "z": "a"}) == [home["ids"][2]]
    tick()
    run = Run.for_dir(os.path.join(home["runs"], home["ids"][4]))
    if how == "in-place":
        write_in_place(attr_path(home, 4, "flags"), "x: 3\ny: 2\nz: a\n")
    else:
        run.write_attr("flags", {"x": 3, "y": 2, "z": "a"})
    # 3 == 3.0: Guild's comparison; newest first
    assert needed_ids(home, {"x": 3.0, "y": 2, "z": "a"}) == [home["ids"][4], home["ids"][2]]
    tick()
    write_in_place(attr_path(home, 2, "flags"), "x: 30.0\ny: 2\nz: a\n")
    assert needed_ids(home, {"x": 3.0, "y": 2, "z": "a"}) == [home["ids"][4]]


@pytest.mark.parametrize("sentinel", ["PENDING", "STAGED", "LOCK.remote"])
def test_needed_ignores_runs_with_sentinels(home, sentinel):
    assert needed_ids(home, DEFAULTS) == [home["ids"][0]]
    tick()
    Run.for_dir(os.path.join(home["runs"], home["ids"][0])).touch(sentinel)
    assert needed_ids(home, DEFAULTS) == []


def test_needed_sees_deleted_and_added_runs(home):
    import shutil

    assert needed_ids(home, DEFAULTS) == [home["ids"][0]]
    shutil.rmtree(os.path.join(home["runs"], home["ids"][0]))
    assert needed_ids(home, DEFAULTS) == []
    perf_fixtures.write_run(home["runs"], "b" * 32, perf_fixtures.script_opref(home["proj"]), DEFAULTS, 5)
    assert needed_ids(home, DEFAULTS) == ["b" * 32]


def test_reused_index_answers_many_and_sees_changes_to_matches(home):
    index = runindex.RunIndex.load(home["runs"])
    opref = echo_opref(home)
    for i, run_id in enumerate(home["ids"]):
        assert [r.id for r in index.needed(opref, perf_fixtures.default_flags(i))] == [run_id]
    assert index.needed(opref, {"x": 99.0, "y": 2, "z": "a"}) == []
    assert index.needed(OpRef("script", home["proj"], "", "", "other.py"), DEFAULTS) == []
    # a match turns to error, another is deleted, a new one is added: all seen by the same object
    write_in_place(attr_path(home, 1, "exit_status"), "2\n")
    import shutil

    shutil.rmtree(os.path.join(home["runs"], home["ids"][2]))
    perf_fixtures.write_run(home["runs"], "c" * 32, perf_fixtures.script_opref(home["proj"]), {"x": 99.0, "y": 2, "z": "a"}, 7)
    assert index.needed(opref, perf_fixtures.default_flags(1)) == []
    assert index.needed(opref, perf_fixtures.default_flags(2)) == []
    assert [r.id for r in index.needed(opref, {"x": 99.0, "y": 2, "z": "a"})] == ["c" * 32]
    many = runstore.needed_many([(opref, perf_fixtures.default_flags(i)) for i in range(N)])
    assert [[r.id for r in found] for found in many] == [[home["ids"][0]], [], [], [home["ids"][3]], [home["ids"][4]]]


def test_needed_type_semantics(home):
    # Guild compares with ==: 1 == 1.0 == True; a string never equals a number
    perf_fixtures.write_run(home["runs"], "d" * 32, perf_fixtures.script_opref(home["proj"]), {"x": True, "y": 2, "z": "a"}, perf_fixtures.BASE_US + 10**9)
    assert needed_ids(home, {"x": 1, "y": 2, "z": "a"}) == ["d" * 32, home["ids"][0]]
    assert needed_ids(home, {"x": "1.0", "y": 2, "z": "a"}) == []
    assert needed_ids(home, {"x": 1.0, "y": 2}) == []


# ------------------------------------------------------------------ Run API


def test_preloaded_runs_read_like_fresh_ones(home):
    Run.for_dir(os.path.join(home["runs"], home["ids"][1])).touch("PENDING")
    write_in_place(attr_path(home, 2, "exit_status"), "-15\n")
    index = runindex.RunIndex.load(home["runs"])
    runs = index.runs()
    for pre, fresh in zip(index.snapshot(runs), runs):
        assert pre._attrs is not None  # answered from the index
        for prop in ("status", "status_with_remote", "label", "timestamp", "op_name", "flags", "opref"):
            assert getattr(pre, prop) == getattr(fresh, prop), prop
    # list_runs gives runs that read their files afresh
    for run in runstore.list_runs():
        assert run._attrs is None


def test_yaml_dates_and_odd_values_are_not_cached_wrongly(home, capsys):
    write_in_place(attr_path(home, 0, "label"), "2024-01-02\n")
    write_in_place(attr_path(home, 1, "label"), "'010'\n")
    write_in_place(attr_path(home, 2, "flags"), "x: 2024-01-02\ny: 2\nz: a\n")
    tick()
    assert listing(capsys, "--all") == truth(home["runs"])
    assert listing(capsys, "--all") == truth(home["runs"])
    import datetime

    assert needed_ids(home, {"x": datetime.date(2024, 1, 2), "y": 2, "z": "a"}) == [home["ids"][2]]


def test_cli_subprocess_sees_foreign_edits(tmp_path):
    """Through the real console entry point, with the default racy window."""
    h = tmp_path / "home"
    ids = perf_fixtures.make_home(str(h), 3, str(tmp_path / "proj"))
    env = dict(os.environ, GUILD_HOME=str(h))

    def runs() -> str:
        return subprocess.run(
            [sys.executable, "-m", "luigi_guild", "runs"], env=env, capture_output=True, text=True, check=True
        ).stdout

    assert runs().count("completed") == 3
    write_in_place(os.path.join(str(h), "runs", ids[0], ".guild", "attrs", "exit_status"), "-9\n")
    assert "terminated" in runs()
