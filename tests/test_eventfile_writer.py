"""Output-scalar event files: our TFRecord framing gives the bytes tensorboard's own writer gives,
and writing them loads neither ``tensorboard.summary`` nor numpy."""

from __future__ import annotations

import io
import os
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
