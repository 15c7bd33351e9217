"""The benchmark home generator writes runs in Guild 0.9's exact layout."""

from __future__ import annotations

import os
import shlex
import struct
import sys

import pytest
import yaml

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))
import homes  # noqa: E402

ATTRS = {
    "id", "initialized", "started", "stopped", "exit_status", "flags", "user_flags", "label",
    "cmd", "op", "host", "user", "platform", "sourcecode_digest", "deps", "plugins",
}


@pytest.fixture()
def home(tmp_path) -> tuple[str, list[str]]:
    path = str(tmp_path / "home")
    return path, homes.generate_home(path, 3)


def _attr(run_dir: str, name: str):
    with open(os.path.join(run_dir, ".guild", "attrs", name)) as f:
        return yaml.safe_load(f)


def test_files_present(home):
    path, ids = home
    assert sorted(os.listdir(os.path.join(path, "runs"))) == sorted(ids)
    for run_id in ids:
        assert len(run_id) == 32 and int(run_id, 16) >= 0
        run_dir = os.path.join(path, "runs", run_id)
        assert sorted(os.listdir(run_dir)) == [".guild", "echo.py"]
        assert sorted(os.listdir(os.path.join(run_dir, ".guild"))) == [
            "attrs", "manifest", "opref", "output", "output.index"]
        assert set(os.listdir(os.path.join(run_dir, ".guild", "attrs"))) == ATTRS
        with open(os.path.join(run_dir, "echo.py"), "rb") as f:
            assert f.read() == homes.project_script()


def test_opref_format(home):
    path, ids = home
    with open(os.path.join(path, "runs", ids[0], ".guild", "opref")) as f:
        opref = f.read()
    assert not opref.endswith("\n")
    assert opref == "script:%s '' '' echo.py" % homes.PROJECT_DIR
    pkg, version, model, op = shlex.split(opref)
    assert pkg.split(":", 1) == ["script", homes.PROJECT_DIR]
    assert (version, model, op) == ("", "", "echo.py")


def test_attr_types(home):
    path, ids = home
    times = []
    for i, run_id in enumerate(ids):
        run_dir = os.path.join(path, "runs", run_id)
        assert _attr(run_dir, "id") == run_id
        initialized, started, stopped = (_attr(run_dir, n) for n in ("initialized", "started", "stopped"))
        assert all(type(t) is int for t in (initialized, started, stopped))
        assert initialized < started < stopped
        times.append(started)
        assert _attr(run_dir, "exit_status") == 0
        flags = _attr(run_dir, "flags")
        assert flags == {"x": float(i + 1), "y": 2, "z": "a"}
        assert type(flags["x"]) is float and type(flags["y"]) is int
        assert _attr(run_dir, "label") == "x=%s y=2 z=a" % float(i + 1)
        assert isinstance(_attr(run_dir, "user_flags"), dict)
        cmd = _attr(run_dir, "cmd")
        assert isinstance(cmd, list) and all(isinstance(a, str) for a in cmd)
        assert cmd[1:4] == ["-um", "guild.op_main", "echo"]
        assert isinstance(_attr(run_dir, "op"), dict)
        assert isinstance(_attr(run_dir, "platform"), dict)
        assert isinstance(_attr(run_dir, "host"), str) and isinstance(_attr(run_dir, "user"), str)
        digest = _attr(run_dir, "sourcecode_digest")
        assert isinstance(digest, str) and len(digest) == 32
    assert times == sorted(set(times)), "distinct, increasing start times (oldest first)"


def test_oldest_run_has_default_flags(home):
    path, ids = home
    oldest = os.path.join(path, "runs", ids[0])
    assert _attr(oldest, "flags") == {"x": 1.0, "y": 2, "z": "a"}
    assert _attr(oldest, "user_flags") == {}


def test_output_and_index(home):
    path, ids = home
    guild_dir = os.path.join(path, "runs", ids[1], ".guild")
    with open(os.path.join(guild_dir, "output"), "rb") as f:
        output = f.read()
    assert output == b"2.0 2 'a'\n"
    with open(os.path.join(guild_dir, "output.index"), "rb") as f:
        index = f.read()
    assert len(index) == 9 * output.count(b"\n")
    ms, stream = struct.unpack(">QB", index[:9])
    assert stream == 0
    assert ms * 1000 <= _attr(os.path.dirname(guild_dir), "stopped")


def test_sweep_home_trials(tmp_path):
    path = str(tmp_path / "sweep")
    ids = homes.generate_home(path, 3, sweep=True)
    xs = [_attr(os.path.join(path, "runs", i), "flags")["x"] for i in ids]
    assert xs == [0.0, 1.0, 2.0]
