"""Output-scalar event files: our TFRecord framing gives the bytes tensorboard's own writer gives,
and writing them loads neither ``tensorboard.summary`` nor numpy; what a trial's capture notes of
them reads as the scalar index reads the file."""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys

from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.summary.writer.record_writer import RecordWriter

from luigi_guild.store import eventfiles

SCALARS = [("loss", 0.5, 0), ("loss", -1.25e-7, 1), ("acc", 3.0e38, 2), ("a/b c", 0.0, 2**40), ("x", 7.0, 0),
           ("l\u00e9" * 50, -0.0, 127), ("inf", float("inf"), 128), ("big", 1e39, 3), ("nan", float("nan"), 4),
           ("", 1.0, 5), ("neg", 2.0, -3), ("tiny", 1e-46, 2**63 - 1)]


def _expected(scalars: list[tuple[str, float, int]]) -> bytes:
    buf = io.BytesIO()
    rw = RecordWriter(buf)
    rw.write(event_pb2.Event(wall_time=0.0, file_version="brain.Event:2").SerializeToString())
    for tag, val, step in scalars:
        summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, simple_value=val)])
        rw.write(event_pb2.Event(wall_time=0.0, step=step, summary=summary).SerializeToString())
    return buf.getvalue()


def test_written_bytes_equal_tensorboards_record_writer(tmp_path):
    writer = eventfiles.EventWriter(str(tmp_path))
    for tag, val, step in SCALARS:
        writer.add_scalar(tag, val, step)
    writer.close()
    assert writer.path is not None and os.path.dirname(writer.path) == str(tmp_path)
    with open(writer.path, "rb") as f:
        data = f.read()
    assert data == _expected(SCALARS)
    # and reading them back gives the scalars (as float32)
    got = list(eventfiles.read_file(writer.path))
    assert [(t, s) for t, _v, s in got] == [(t, s) for t, _v, s in SCALARS]
    assert got[0][1] == 0.5 and got[2][1] > 1e38


def test_frame_record_matches_for_odd_sizes():
    for data in (b"", b"\x00", bytes(range(256)) * 5):
        buf = io.BytesIO()
        RecordWriter(buf).write(data)
        assert eventfiles.frame_record(data) == buf.getvalue()


def test_writing_a_scalar_loads_no_numpy(tmp_path):
    probe = (
        "import sys\n"
        "from luigi_guild.store.eventfiles import EventWriter\n"
        "w = EventWriter(sys.argv[1]); w.add_scalar('loss', 1.0, 0); w.close()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'numpy' or m.startswith('tensorboard.summary')))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe, str(tmp_path)], capture_output=True, text=True, check=True)
    assert out.stdout == "[]\n"
    assert len([n for n in os.listdir(tmp_path) if ".tfevents." in n]) == 1


def _captured(run_dir, lines: list[str]) -> None:
    from luigi_guild.run.capture import ScalarCapture

    guild_dir = os.path.join(run_dir, ".guild")
    os.makedirs(guild_dir, exist_ok=True)
    cap = ScalarCapture(guild_dir, note=True)
    cap.feed("".join(line + "\n" for line in lines).encode(), 0)
    cap.close()


def _as_indexed(run_dir) -> list:
    from luigi_guild.store import scalars

    saved = dict(scalars._noted)
    scalars._noted.clear()
    try:
        return scalars.for_runs([run_dir])[run_dir]
    finally:
        scalars._noted.update(saved)


LINES = ["loss: 0.1", "acc: 0.3333333", "step: 2", "loss: 0.7", "loss: -2.5e-3", "step: 1", "acc: 1e-50",
         "loss: 0.7", "val_loss: 3e38", "step: 9", "acc: 12345.678"]


def test_noted_output_scalars_read_as_the_index_reads_the_file(tmp_path, monkeypatch):
    """A sweep reads each trial's objective from what its capture noted: the same summaries (values as
    32-bit floats, Guild's first/last/min/max rules) as the scalar index gives from the event file."""
    from luigi_guild.store import scalars

    monkeypatch.setenv("GUILD_HOME", str(tmp_path / "home"))
    run_dir = str(tmp_path / "run")
    _captured(run_dir, LINES)
    assert run_dir in scalars._noted
    noted = scalars.for_runs([run_dir])[run_dir]
    assert noted == _as_indexed(run_dir)
    loss = noted[1]
    assert [s.tag for s in noted] == ["acc", "loss", "val_loss"] and loss.count == 4
    f32 = struct.Struct("<f")
    # As the file holds them: 32-bit values; the last is the highest step's, not the last line's.
    assert (loss.first_val, loss.last_val, loss.last_step) == (f32.unpack(f32.pack(0.1))[0], f32.unpack(f32.pack(-2.5e-3))[0], 2)
    assert loss.first_val != 0.1
    assert scalars._noted_rows(run_dir) is not None  # used, not read: the index was never asked for it


def test_noted_scalars_give_way_to_any_change_of_the_runs_event_files(tmp_path, monkeypatch):
    from luigi_guild.store import scalars

    monkeypatch.setenv("GUILD_HOME", str(tmp_path / "home"))
    run_dir = str(tmp_path / "run")
    _captured(run_dir, ["loss: 1.0"])
    # The script wrote its own event file beside ours: the run is read from its files again.
    writer = eventfiles.EventWriter(run_dir)
    writer.add_scalar("loss", 0.25, 5)
    writer.close()
    assert scalars._noted_rows(run_dir) is None
    got = scalars.for_runs([run_dir])[run_dir]
    assert got == _as_indexed(run_dir) and {(s.prefix, s.last_val) for s in got} == {("", 0.25), (".guild", 1.0)}

    # Our own file grew after the note (appended to by another writer): read again too.
    other = str(tmp_path / "run2")
    _captured(other, ["loss: 1.0"])
    (path,) = [os.path.join(other, ".guild", n) for n in os.listdir(os.path.join(other, ".guild"))]
    with open(path, "ab") as f:
        f.write(eventfiles.frame_record(event_pb2.Event(step=3, summary=summary_pb2.Summary(
            value=[summary_pb2.Summary.Value(tag="loss", simple_value=0.5)])).SerializeToString()))
    assert scalars.for_runs([other])[other][0].last_val == 0.5

    # A run that printed no scalar: none, until an event file appears.
    quiet = str(tmp_path / "run3")
    _captured(quiet, ["no scalars here"])
    assert scalars._noted_rows(quiet) == [] and scalars.for_runs([quiet])[quiet] == []
    writer = eventfiles.EventWriter(os.path.join(quiet, "logs"))
    os.makedirs(os.path.join(quiet, "logs"))
    writer.add_scalar("loss", 2.0, 0)
    writer.close()
    assert [(s.prefix, s.last_val) for s in scalars.for_runs([quiet])[quiet]] == [("logs", 2.0)]


def test_a_value_no_32_bit_float_holds_is_not_noted(tmp_path, monkeypatch):
    from luigi_guild.store import scalars

    monkeypatch.setenv("GUILD_HOME", str(tmp_path / "home"))
    run_dir = str(tmp_path / "run")
    _captured(run_dir, ["loss: 1e39"])
    assert run_dir not in scalars._noted
    assert [s.tag for s in scalars.for_runs([run_dir])[run_dir]] == ["loss"]
