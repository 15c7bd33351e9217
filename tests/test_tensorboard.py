"""``guild tensorboard`` with a real TensorBoard server on 127.0.0.1: its data API sees the runs' scalars,
new runs appear on refresh, and stopping it (SIGTERM or Ctrl-C) removes its log directory."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from typing import Any

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from helpers import guild, write_project  # noqa: E402

pytest.importorskip("tensorboard")


# A 1x1 PNG: the run's image, which becomes an image summary.
PNG_1X1 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def setup(tmp_path: Any) -> tuple[str, str, str]:
    home = str(tmp_path / "home")
    fit = (
        "import base64\n"
        "lr = 0.5\n"
        "for i in range(3):\n"
        "    print('step: %d' % i)\n"
        "    print('loss: %f' % (lr / (i + 1)))\n"
        "open('plot.png', 'wb').write(base64.b64decode('" + PNG_1X1 + "'))\n"
    )
    proj = write_project(str(tmp_path / "proj"), {"fit.py": fit})
    r = guild("run", "fit.py", "lr=0.5", "-y", cwd=proj, home=home)
    assert r.exit_code == 0, r.err
    tmpdir = str(tmp_path / "tmp")
    os.makedirs(tmpdir)
    return home, proj, tmpdir


def get_json(port: int, path: str, deadline: float) -> Any:
    last: Exception | None = None
    while time.time() < deadline:
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=5) as resp:
                return json.loads(resp.read())
        except OSError as e:
            last = e
            time.sleep(0.3)
    raise AssertionError("no answer from TensorBoard at %s: %s" % (path, last))


def wait_for(pred: Any, deadline: float, what: str) -> Any:
    while time.time() < deadline:
        val = pred()
        if val:
            return val
        time.sleep(0.3)
    raise AssertionError("timed out waiting for " + what)


def start(home: str, proj: str, tmpdir: str, port: int, *args: str) -> subprocess.Popen:
    env = dict(os.environ, GUILD_HOME=home, TMPDIR=tmpdir, COLUMNS="999")
    return subprocess.Popen(
        [sys.executable, "-m", "luigi_guild", "tensorboard", "-n", "-h", "127.0.0.1", "-p", str(port), *args],
        cwd=proj, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )


def logdirs(tmpdir: str) -> list[str]:
    return [n for n in os.listdir(tmpdir) if n.startswith("guild-tensorboard-")]


def test_serves_scalars_refreshes_and_cleans_up_on_sigterm(setup: tuple[str, str, str]) -> None:
    home, proj, tmpdir = setup
    port = free_port()
    proc = start(home, proj, tmpdir, port, "--refresh-interval", "1")
    try:
        deadline = time.time() + 90
        found = wait_for(lambda: get_json(port, "/data/runs", deadline), deadline, "the first run")
        # "<short id> fit.py <started> lr=0.5" with the run's event directory under it, and its images
        runs = sorted(found)
        assert len(runs) == 2 and runs[0].split(" ")[1] == "fit.py", runs
        assert runs[0].endswith(" lr=0.5/.guild") and runs[1].endswith(" lr=0.5/.images"), runs
        query = urllib.parse.urlencode({"run": runs[0], "tag": "loss"})
        points = get_json(port, "/data/plugin/scalars/scalars?" + query, deadline)
        assert [(p[1], round(p[2], 4)) for p in points] == [(0, 0.5), (1, 0.25), (2, 0.1667)]
        tags = get_json(port, "/data/plugin/scalars/tags", deadline)[runs[0]]
        assert "time" in tags  # the generated time metric next to the hparams file
        assert len(logdirs(tmpdir)) == 1
        images = get_json(port, "/data/plugin/images/tags", deadline)
        assert [tags for run, tags in images.items() if run.endswith("/.images")] == [
            {"plot.png": {"displayName": "plot.png", "description": "", "samples": 1}}
        ], images

        # A run made while TensorBoard is up appears after a refresh.
        r = guild("run", "fit.py", "lr=0.2", "-y", cwd=proj, home=home)
        assert r.exit_code == 0, r.err
        wait_for(lambda: len(get_json(port, "/data/runs", deadline)) == 4, deadline, "the second run")
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert out.startswith("Preparing runs for TensorBoard\n")
    assert "Running TensorBoard " in err and " at http://127.0.0.1:%d (Type Ctrl+C to quit)" % port in err
    assert "Traceback" not in err
    assert logdirs(tmpdir) == []  # guildai 0.9.0 leaves it behind on SIGTERM


def test_ctrl_c_cleans_up_and_keep_logdir_keeps(setup: tuple[str, str, str]) -> None:
    home, proj, tmpdir = setup
    port = free_port()
    proc = start(home, proj, tmpdir, port, "--keep-logdir")
    try:
        deadline = time.time() + 90
        wait_for(lambda: get_json(port, "/data/runs", deadline), deadline, "the run")
    finally:
        os.kill(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    kept = logdirs(tmpdir)
    assert len(kept) == 1 and "TensorBoard logs saved in %s" % os.path.join(tmpdir, kept[0]) in out

    port = free_port()
    proc = start(home, proj, tmpdir, port)
    try:
        wait_for(lambda: get_json(port, "/data/runs", deadline), deadline, "the run")
        assert len(logdirs(tmpdir)) == 2
    finally:
        os.kill(proc.pid, signal.SIGINT)
        proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert logdirs(tmpdir) == kept


def test_port_in_use_is_one_line(setup: tuple[str, str, str]) -> None:
    home, proj, tmpdir = setup
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        proc = start(home, proj, tmpdir, port)
        out, err = proc.communicate(timeout=90)
    assert proc.returncode == 1
    assert err.startswith("guild: cannot start TensorBoard: ") and len(err.strip().splitlines()) == 1, err
    assert logdirs(tmpdir) == []
