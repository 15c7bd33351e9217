"""Output-scalar matching, event files and the scalar index, tested through their public seams."""

from __future__ import annotations

import os
import sqlite3

import pytest

from luigi_guild.model import home
from luigi_guild.model.outputscalars import Matcher, OutputScalarsError, coerce_config
from luigi_guild.store import eventfiles, scalarindex, scalars


@pytest.fixture()
def guild_home(tmp_path, monkeypatch):
    monkeypatch.setenv("GUILD_HOME", str(tmp_path / "home"))
    home.set_guild_home(None)
    return tmp_path / "home"


def _feed(lines, config=None, ignore=()):
    m = Matcher(config, ignore)
    out = []
    for line in lines:
        out.extend(m.feed(line))
    return out


@pytest.mark.parametrize(
    "line,want",
    [
        ("loss: 0.5", [("loss", 0.5, 0)]),
        ("loss: 1e-3", [("loss", 0.001, 0)]),
        ("loss: -2", [("loss", -2.0, 0)]),
        ("x/y.z: 4", [("x/y.z", 4.0, 0)]),
        ("acc: 0.5 (valid)", [("acc", 0.5, 0)]),
        ("loss: 0.5 (7)", [("loss", 0.5, 7)]),
        ("val_loss: 0.123 (step 10)", [("val_loss", 0.123, 10)]),
        ("step: 3", []),
        ("loss:0.5", []),
        ("loss=0.5", []),
        ("loss: +2", []),
        ("loss: nan", []),
        ("  indented: 5", []),
        ("val loss: 3", []),
        ("a: 1 b: 2", []),
        ("loss: 1.2.3", []),
        (b"lo\x01ss: 2\r", [("loss", 2.0, 0)]),
    ],
)
def test_default_patterns(line, want):
    assert _feed([line]) == want


def test_step_persists_and_flags_are_ignored_with_defaults_only():
    got = _feed(["step: 3", "b: 1", "a: 2", "x: 9"], ignore=["x"])
    assert got == [("b", 1.0, 3), ("a", 2.0, 3)]
    assert _feed(["x=9"], config=[r"x=(\value)"], ignore=["x"]) == [("", 9.0, 0)]


def test_config_forms():
    assert coerce_config(None) is None
    assert coerce_config(False) is False
    assert coerce_config("a") == ["a"]
    assert coerce_config({"k": "a"}) == [{"k": "a"}]
    with pytest.raises(OutputScalarsError):
        coerce_config(12)
    # Mapping keys apply in sorted order; a one-group pattern takes its key.
    got = _feed(["v=1 w=2"], config=[{"b": r"w=(\value)", "a": r"v=(\value)"}])
    assert got == [("a", 1.0, 0), ("b", 2.0, 0)]
    # A pattern that does not compile is skipped, the others still apply.
    warnings = []
    m = Matcher(["(", r"v=(\value)"], warn=warnings.append)
    assert list(m.feed("v=3")) == [("", 3.0, 0)]
    assert warnings and "error compiling pattern" in warnings[0]


def test_summary_tie_rules():
    events = [("t", 5.0, 2), ("t", 1.0, 0), ("t", 7.0, 2), ("t", 1.0, 3), ("t", 9.0, 0), ("t", 9.0, 1)]
    first_val, first_step, last_val, last_step, min_val, min_step, max_val, max_step, avg, total, count = (
        scalarindex.summarize(events)["t"]
    )
    assert (first_val, first_step) == (1.0, 0)  # smallest step, earliest event
    assert (last_val, last_step) == (1.0, 3)
    assert (min_val, min_step) == (1.0, 0)  # first seen
    assert (max_val, max_step) == (9.0, 0)
    assert (total, count) == (32.0, 6)
    assert avg == pytest.approx(32.0 / 6)


def _run_dir(tmp_path, name="r1"):
    d = tmp_path / "runs" / name
    (d / ".guild").mkdir(parents=True)
    (d / ".guild" / "opref").write_text("script:/x '' '' t.py")
    return d


def _write(d, values, step0=0):
    w = eventfiles.EventWriter(str(d))
    for i, v in enumerate(values):
        w.add_scalar("loss", v, step0 + i)
    w.close()
    return w.path


def test_index_serves_unchanged_runs_without_reading(guild_home, tmp_path):
    run = _run_dir(tmp_path)
    path = _write(run / ".guild", [3.0, 2.0, 1.0])
    assert scalars.for_run(str(run))[0].last_val == 1.0
    # Replace the file's bytes keeping its size and mtime: the index must not read it again.
    st = os.stat(path)
    with open(path, "r+b") as f:
        f.write(b"\0" * st.st_size)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert scalars.for_run(str(run))[0].last_val == 1.0
    # Deleting the index rebuilds it from the files (now unreadable: no values, no error).
    os.remove(scalarindex.index_path())
    assert scalars.for_run(str(run)) == []


def test_index_sees_growth_new_dirs_and_removal(guild_home, tmp_path):
    run = _run_dir(tmp_path)
    _write(run / ".guild", [3.0])
    assert [(s.key, s.count) for s in scalars.for_run(str(run))] == [("loss", 1)]
    _write(run / ".guild", [2.0, 1.0], step0=1)  # a restart adds a second file
    (run / "logs" / "train").mkdir(parents=True)
    _write(run / "logs" / "train", [5.0])
    got = [(s.key, s.count, s.last_val) for s in scalars.for_run(str(run))]
    assert got == [("loss", 3, 1.0), ("logs/train#loss", 1, 5.0)]
    for name in os.listdir(run / "logs" / "train"):
        os.remove(run / "logs" / "train" / name)
    assert [s.key for s in scalars.for_run(str(run))] == ["loss"]


def test_corrupt_index_is_rebuilt(guild_home, tmp_path):
    run = _run_dir(tmp_path)
    _write(run / ".guild", [4.0])
    scalars.for_run(str(run))
    for suffix in ("-wal", "-shm"):
        if os.path.exists(scalarindex.index_path() + suffix):
            os.remove(scalarindex.index_path() + suffix)
    with open(scalarindex.index_path(), "wb") as f:
        f.write(b"not a database at all" * 100)
    assert scalars.for_run(str(run))[0].last_val == 4.0
    sqlite3.connect(scalarindex.index_path()).execute("SELECT count(*) FROM run").fetchone()


def test_file_still_being_written(guild_home, tmp_path):
    run = _run_dir(tmp_path)
    w = eventfiles.EventWriter(str(run / ".guild"))
    w.add_scalar("loss", 1.0, 0)
    assert w.path is not None
    with open(w.path, "ab") as f:  # half of a next record, as a writer mid-append leaves it
        f.write(b"\x20\x00\x00\x00\x00\x00")
    assert [(s.last_val, s.count) for s in scalars.for_run(str(run))] == [(1.0, 1)]
    w.close()


def test_series_and_find(guild_home, tmp_path):
    run = _run_dir(tmp_path)
    _write(run / ".guild", [3.0, 2.0])
    (run / "logs").mkdir()
    _write(run / "logs", [9.0])
    assert scalars.series(str(run), "loss") == [(0, 3.0), (1, 2.0)]
    assert scalars.series(str(run), "loss", prefix="logs") == [(0, 9.0)]
    rows = scalars.for_run(str(run))
    assert scalars.find(rows, "loss").prefix == ".guild"
    assert scalars.find(rows, "loss", "lo").prefix == "logs"


def test_many_stale_runs_are_read_in_parallel_with_the_same_result(guild_home, tmp_path, monkeypatch):
    runs = [_run_dir(tmp_path, "p%d" % i) for i in range(4)]
    for i, run in enumerate(runs):
        _write(run / ".guild", [float(i), float(i) + 0.5])
    serial = scalars.for_runs([str(r) for r in runs])
    os.remove(scalarindex.index_path())
    monkeypatch.setattr(scalarindex, "PARALLEL_MIN", 1)
    parallel = scalars.for_runs([str(r) for r in runs])
    assert parallel == serial
    assert [rows[0].last_val for rows in parallel.values()] == [0.5, 1.5, 2.5, 3.5]


def test_stamps_checked_in_a_child_process_give_the_same_scalars_and_see_changes(guild_home, tmp_path, monkeypatch):
    monkeypatch.setattr(scalarindex, "RACY_NS", -1)  # every entry settled at once: served from the index
    runs = [_run_dir(tmp_path, "f%d" % i) for i in range(5)]
    for i, run in enumerate(runs):
        _write(run / ".guild", [float(i), float(i) + 0.5])
    dirs = [str(r) for r in runs]
    serial = scalars.for_runs(dirs)
    forks = []
    real_fork = os.fork

    def counting_fork() -> int:
        forks.append(1)
        return real_fork()

    monkeypatch.setattr(os, "fork", counting_fork)
    monkeypatch.setattr(scalarindex, "FORK_MIN", 1)
    # Under pytest-xdist the worker has threads of its own, which would keep the child from forking;
    # the child only stats files and writes to a pipe, so forking from that process is safe here.
    import threading

    monkeypatch.setattr(threading, "active_count", lambda: 1)
    assert scalars.started(dirs)(dirs) == serial
    assert forks == [1] or len(os.sched_getaffinity(0)) < 2
    # Started for a whole runs directory (before its runs are listed): the same.
    assert scalars.started(str(runs[0].parent))(dirs) == serial
    idx = scalarindex.ScalarIndex()
    assert sorted(d for d, _stamp, _rows in idx.fetch(str(runs[0].parent) + "/")) == dirs
    assert idx.fetch(str(runs[0].parent.parent)) == []  # runs directly in it only
    idx.close()
    # Changes made behind the index's back show: a new file in one run, an in-place append in another.
    _write(runs[1] / ".guild", [9.0], step0=5)
    (events,) = [n for n in os.listdir(runs[3] / ".guild") if eventfiles.EVENTS_MARK in n]
    w = eventfiles.EventWriter(str(runs[3] / ".guild"), name=events + ".x")
    w.add_scalar("loss", 7.0, 9)
    w.close()
    with open(runs[3] / ".guild" / events, "ab") as f:  # its records after the file-version one
        f.write(b"".join(eventfiles.frame_record(r) for r in list(eventfiles.read_records(w.path))[1:]))
    os.remove(w.path)
    got = {d: [(s.last_val, s.count) for s in rows] for d, rows in scalars.started(dirs)(dirs).items()}
    assert [got[d] for d in dirs] == [[(0.5, 2)], [(9.0, 3)], [(2.5, 2)], [(7.0, 3)], [(4.5, 2)]]
    # A child that fails: the caller checks the stamps itself, with the same result.
    parent = os.getpid()
    real_check = scalarindex.check_stamps

    def failing_in_child(fetched, guild_stamps):
        if os.getpid() != parent:
            raise RuntimeError("child failure")
        return real_check(fetched, guild_stamps)

    monkeypatch.setattr(scalarindex, "check_stamps", failing_in_child)
    again = {d: [(s.last_val, s.count) for s in rows] for d, rows in scalars.started(dirs)(dirs).items()}
    assert again == got


def test_overlong_lines_are_not_searched_and_do_not_disturb_the_next_lines(tmp_path):
    """A line past the search limit (a progress bar, a dump) yields nothing; the lines around it still count."""
    from luigi_guild.model.outputscalars import MAX_LINE_CHARS, Matcher
    from luigi_guild.run.capture import ScalarCapture

    long_token = "a" * (MAX_LINE_CHARS * 50)
    assert list(Matcher().feed(long_token + ": 1 (step 2)")) == []
    assert list(Matcher().feed("b" * (MAX_LINE_CHARS - 10) + ": 1")) == [("b" * (MAX_LINE_CHARS - 10), 1.0, 0)]

    capture = ScalarCapture(str(tmp_path))
    seen: list[tuple[str, float, int]] = []
    capture.writer.add_scalar = lambda k, v, s: seen.append((k, v, s))  # type: ignore[method-assign]
    capture.feed(b"loss: 1\nx" + b"a" * (MAX_LINE_CHARS * 5), 0)
    capture.feed(b"b" * (MAX_LINE_CHARS * 5) + b": 2\nacc: 3\npart", 0)
    capture.feed(b"ial: 4\n", 0)
    capture.close()
    assert seen == [("loss", 1.0, 0), ("acc", 3.0, 0), ("partial", 4.0, 0)]


def test_record_reader_agrees_with_tensorboards_loader(tmp_path):
    """Our record reader yields what tensorboard's RawEventFileLoader yields: whole files, a
    truncated tail (a writer mid-append) and a record whose checksum fails (it and the rest are dropped)."""
    from tensorboard.backend.event_processing.event_file_loader import RawEventFileLoader

    w = eventfiles.EventWriter(str(tmp_path))
    for i in range(5):
        w.add_scalar("loss", 1.0 / (i + 1), i)
    w.close()
    assert w.path is not None
    with open(w.path, "rb") as f:
        whole = f.read()
    third = 0
    for _ in range(3):  # offset of the fourth record (header 12 bytes, data, 4-byte checksum)
        third += 12 + int.from_bytes(whole[third : third + 8], "little") + 4
    cases = {
        "whole": whole,
        "truncated": whole[:-7],
        "corrupt": whole[: third + 14] + bytes([whole[third + 14] ^ 0xFF]) + whole[third + 15 :],
    }
    for name, data in cases.items():
        path = tmp_path / ("events.out.tfevents.%s" % name)
        path.write_bytes(data)
        ours = list(eventfiles.read_records(str(path)))
        try:
            theirs = list(RawEventFileLoader(str(path)).Load())
        except Exception:  # the loader raises on a bad checksum after the good records
            theirs = []
            loader = RawEventFileLoader(str(path))
            try:
                for rec in loader.Load():
                    theirs.append(rec)
            except Exception:
                pass
        assert ours == theirs, name
    assert len(list(eventfiles.read_records(str(tmp_path / "events.out.tfevents.whole")))) == 6
    assert len(list(eventfiles.read_records(str(tmp_path / "events.out.tfevents.corrupt")))) == 3


def _batch_dir(tmp_path, output: str):
    gdir = tmp_path / "batch" / ".guild"
    gdir.mkdir(parents=True)
    (gdir / "opref").write_text("builtin:guildai 0.9.0 '' +\n")
    (gdir / "output").write_text(output)
    return gdir


def _events_in(gdir):
    return sorted(n for n in os.listdir(gdir) if eventfiles.EVENTS_MARK in n)


def test_batch_output_capture_carries_the_step_across_trials_and_replaces_its_file(guild_home, tmp_path):
    from luigi_guild.run.capture import capture_output_file

    gdir = _batch_dir(tmp_path, "INFO: [guild] Running trial a: t (x=1)\nstep: 5\nloss: 2\n"
                                "INFO: [guild] Running trial b: t (x=2)\nloss: 4\n")
    capture_output_file(str(gdir))
    assert len(_events_in(gdir)) == 1
    (loss,) = scalars.for_run(str(gdir.parent))
    assert (loss.prefix, loss.tag, loss.first_val, loss.last_val, loss.last_step, loss.count) == (
        ".guild", "loss", 2.0, 4.0, 5, 2)
    # Finished again (a restart) with more output: derived afresh, one file, nothing counted twice.
    with open(gdir / "output", "a") as f:
        f.write("loss: 1\n")
    capture_output_file(str(gdir))
    assert len(_events_in(gdir)) == 1
    (loss,) = scalars.for_run(str(gdir.parent))
    assert (loss.last_val, loss.count) == (1.0, 3)
    assert not [n for n in os.listdir(gdir) if n.startswith(".output-scalars")]


def test_batch_output_capture_without_output_or_scalars(guild_home, tmp_path):
    from luigi_guild.run.capture import capture_output_file

    gdir = _batch_dir(tmp_path, "INFO: [guild] Running trial a: t (x=1)\n")
    stale = eventfiles.EventWriter(str(gdir))  # scalars of an earlier output that has none now
    stale.add_scalar("loss", 1.0, 0)
    stale.close()
    capture_output_file(str(gdir))
    assert _events_in(gdir) == []
    os.remove(gdir / "output")
    capture_output_file(str(gdir))  # no output at all: nothing written, no error
    assert _events_in(gdir) == []
