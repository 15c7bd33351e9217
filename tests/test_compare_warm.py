"""``guild compare --csv -`` on warm indexes: the table made from the index entries while a child
checks their stamps stands only when nothing changed, and so does the kept text of the last
table (``cache/compare-csv``); any change behind the indexes' backs (attrs edited in place, a
status change, runs removed or added, new scalars) shows at once.

Each case runs with the stamps checked by a forked child and by the command itself. Stamps count
as settled at once (``RACY_NS`` 0 in both indexes), so the warm path is taken from the second call.
"""

from __future__ import annotations

import gc
import os
import shutil
import subprocess
import sys
import threading
import time

import pytest

from luigi_guild.commands import comparecsv
from luigi_guild.model import home as homelib
from luigi_guild.store import compare as comparelib
from luigi_guild.store import eventfiles, scalarindex
from luigi_guild.store import index as runindex
from luigi_guild.store.rundir import Run

sys.path.insert(0, os.path.dirname(__file__))
import perf_fixtures  # noqa: E402
from perf_fixtures import write_in_place  # noqa: E402

N = 6


def tick() -> None:
    """Let the filesystem's coarse clock move on before the next write."""
    time.sleep(0.03)


def add_scalars(run_dir: str, loss: float, subdir: str = ".guild", step: int = 0) -> None:
    w = eventfiles.EventWriter(os.path.join(run_dir, subdir))
    w.add_scalar("loss", loss, step)
    w.close()


@pytest.fixture(params=["child", "no-child"])
def home(request, tmp_path, monkeypatch):
    h = tmp_path / "home"
    proj = tmp_path / "proj"
    ids = perf_fixtures.make_home(str(h), N, str(proj))
    for i, run_id in enumerate(ids):
        add_scalars(str(h / "runs" / run_id), 1.0 / (i + 1))
    monkeypatch.setenv("GUILD_HOME", str(h))
    monkeypatch.chdir(proj)
    monkeypatch.setattr(homelib, "_override", None)
    monkeypatch.setattr(runindex, "RACY_NS", 0)
    monkeypatch.setattr(scalarindex, "RACY_NS", -1)
    if request.param == "child":
        monkeypatch.setattr(scalarindex, "FORK_MIN", 1)
        # Under pytest-xdist the worker has threads of its own; the child only stats and writes a pipe.
        monkeypatch.setattr(threading, "active_count", lambda: 1)
    else:
        monkeypatch.setattr(scalarindex, "FORK_MIN", 10**9)
    builds: list[int] = []
    real_build = comparelib.build

    def counting_build(*args, **kwargs):
        builds.append(1)
        return real_build(*args, **kwargs)

    monkeypatch.setattr(comparelib, "build", counting_build)
    tick()
    yield {"home": str(h), "runs": str(h / "runs"), "proj": str(proj), "ids": ids, "builds": builds,
           "tmp": tmp_path}
    gc.enable()  # the command turns the collector off for its short process


def compare(h: dict, capsys) -> tuple[str, int]:
    """The command's CSV and how many tables it made (0: the kept text was used)."""
    capsys.readouterr()
    del h["builds"][:]
    comparecsv.plain_csv("-")
    out, err = capsys.readouterr()
    assert err == ""
    return out, len(h["builds"])


def truth(h: dict, capsys) -> str:
    """The CSV of a copy of the runs with no index at all (every file read)."""
    copy = h["tmp"] / ("truth-%d" % time.monotonic_ns())
    shutil.copytree(h["runs"], str(copy / "runs"), symlinks=True)
    old = os.environ["GUILD_HOME"]
    os.environ["GUILD_HOME"] = str(copy)
    try:
        return compare(h, capsys)[0]
    finally:
        os.environ["GUILD_HOME"] = old


def warm(h: dict, capsys) -> str:
    """Three calls: the first builds the indexes, the second's guess stands (its text is kept),
    the third uses the kept text; their CSV."""
    first, _ = compare(h, capsys)
    assert compare(h, capsys) == (first, 1)
    assert compare(h, capsys) == (first, 0)
    tick()
    return first


def attr_path(h: dict, i: int, name: str) -> str:
    return os.path.join(h["runs"], h["ids"][i], ".guild", "attrs", name)


def row_of(csv: str, run_id: str) -> str:
    [row] = [line for line in csv.splitlines() if line.startswith(run_id[:8] + ",")]
    return row


def test_unchanged_runs_keep_the_guess_and_agree_with_reading_every_file(home, capsys):
    out = warm(home, capsys)
    assert out == truth(home, capsys)
    assert out.count("\n") == N + 1 and out.startswith("run,operation,started,time,status,label,")
    assert compare(home, capsys) == (out, 0)


def test_label_edited_in_place_is_seen(home, capsys):
    warm(home, capsys)
    write_in_place(attr_path(home, 2, "label"), "edited in place\n")
    out, builds = compare(home, capsys)
    assert ",completed,edited in place," in row_of(out, home["ids"][2]) and builds == 1
    assert out == truth(home, capsys)
    assert compare(home, capsys) == (out, 1)  # the index was saved with the new label: a new guess
    assert compare(home, capsys) == (out, 0)


def test_exit_status_edited_in_place_is_seen(home, capsys):
    warm(home, capsys)
    write_in_place(attr_path(home, 3, "exit_status"), "1\n")
    out, _ = compare(home, capsys)
    assert ",error," in row_of(out, home["ids"][3])
    assert out == truth(home, capsys)


def test_status_change_through_a_sentinel_is_seen(home, capsys):
    warm(home, capsys)
    Run.for_dir(os.path.join(home["runs"], home["ids"][1])).touch("STAGED")
    os.remove(attr_path(home, 1, "exit_status"))
    out, _ = compare(home, capsys)
    assert ",staged," in row_of(out, home["ids"][1])
    assert out == truth(home, capsys)


def test_restart_reorders(home, capsys):
    out = warm(home, capsys)
    oldest = home["ids"][0]
    assert out.splitlines()[-1].startswith(oldest[:8])
    run = Run.for_dir(os.path.join(home["runs"], oldest))
    run.touch("PENDING")  # a start touches sentinels, then writes 'started'
    write_in_place(attr_path(home, 0, "started"), "%d\n" % (perf_fixtures.BASE_US + 10**12))
    run.remove("PENDING")
    out, _ = compare(home, capsys)
    assert out.splitlines()[1].startswith(oldest[:8])
    assert out == truth(home, capsys)


def test_deleted_and_added_runs_are_seen(home, capsys):
    warm(home, capsys)
    shutil.rmtree(os.path.join(home["runs"], home["ids"][4]))
    out, _ = compare(home, capsys)
    assert out.count("\n") == N and home["ids"][4][:8] not in out
    assert out == truth(home, capsys)
    tick()
    code = (
        "import sys; sys.path.insert(0, %r); import perf_fixtures as p; "
        "p.write_run(%r, 'feedbeef' * 4, p.script_opref(%r), {'x': 9.5, 'y': 2, 'z': 'a'}, p.BASE_US + 10**9)"
        % (os.path.dirname(__file__), home["runs"], home["proj"])
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    out, builds = compare(home, capsys)
    assert out.splitlines()[1].startswith("feedbeef,") and builds == 1  # read before any guess
    assert out == truth(home, capsys)


def test_new_scalars_are_seen(home, capsys):
    warm(home, capsys)
    run_dir = os.path.join(home["runs"], home["ids"][5])
    (events,) = [n for n in os.listdir(os.path.join(run_dir, ".guild")) if eventfiles.EVENTS_MARK in n]
    with open(os.path.join(run_dir, ".guild", events), "ab") as f:  # appended in place
        w = eventfiles.EventWriter(str(home["tmp"]), name="more")
        w.add_scalar("loss", 42.0, 7)
        w.close()
        assert w.path is not None
        f.write(b"".join(eventfiles.frame_record(r) for r in list(eventfiles.read_records(w.path))[1:]))
    out, builds = compare(home, capsys)
    assert row_of(out, home["ids"][5]).endswith(",7,42.0") and builds == 1
    assert out == truth(home, capsys)
    tick()
    os.makedirs(os.path.join(run_dir, "logs"))
    w = eventfiles.EventWriter(os.path.join(run_dir, "logs"))
    w.add_scalar("acc", 0.5, 1)
    w.close()
    out, _ = compare(home, capsys)
    header = out.splitlines()[0].split(",")
    assert "acc" in header and row_of(out, home["ids"][5]).split(",")[header.index("acc")] == "0.5"
    assert out == truth(home, capsys)


def test_tables_of_live_runs_are_not_kept(home, capsys):
    out = warm(home, capsys)
    kept = os.path.join(home["home"], "cache", "compare-csv")
    os.remove(kept)
    os.remove(attr_path(home, 1, "exit_status"))
    with open(os.path.join(home["runs"], home["ids"][1], ".guild", "LOCK"), "w") as f:
        f.write(str(os.getpid()))  # running: its status and time hang on this process
    tick()
    out, _ = compare(home, capsys)
    assert ",running," in row_of(out, home["ids"][1])
    assert compare(home, capsys) == (out, 1) and not os.path.exists(kept)


def test_damaged_or_foreign_kept_text_is_not_used(home, capsys):
    out = warm(home, capsys)
    kept = os.path.join(home["home"], "cache", "compare-csv")
    with open(kept, "rb") as f:
        data = f.read()
    for damaged in (b"", b"garbage", data[:40], b"0" * 40 + data[40:], data.replace(b"\n", b"x", 1)):
        with open(kept, "wb") as f:
            f.write(damaged)
        assert compare(home, capsys) == (out, 1)


def test_time_zone_change_is_seen(home, capsys, monkeypatch):
    out = warm(home, capsys)
    monkeypatch.setenv("TZ", "Asia/Tokyo" if time.timezone != -9 * 3600 else "UTC")
    time.tzset()
    try:
        other, builds = compare(home, capsys)
        assert other != out and builds == 1
        assert other == truth(home, capsys)
    finally:
        monkeypatch.undo()
        time.tzset()


def test_text_kept_by_other_code_is_not_used(home, capsys, monkeypatch):
    from luigi_guild.store import comparecache

    out = warm(home, capsys)
    real = comparecache._code()
    assert len(real) == len(comparecache._CODE) and all(len(stamp) == 3 for stamp in real)  # every module found
    monkeypatch.setattr(comparecache, "_code", lambda: real[:-1] + [(real[-1][0], 0, 0)])  # one module changed
    assert compare(home, capsys) == (out, 1)
    assert compare(home, capsys) == (out, 0)


def test_kept_text_written_to_a_file_says_how_many_rows(home, capsys):
    out = warm(home, capsys)
    dest = home["tmp"] / "out.csv"
    del home["builds"][:]
    comparecsv.plain_csv(str(dest))
    assert home["builds"] == [] and dest.read_text() == out
    assert capsys.readouterr().err == "Wrote %d row(s) to %s\n" % (N, dest)
