"""``guild view``: the command, its server and JSON endpoints, read-only and safe (real server, real HTTP)."""

from __future__ import annotations

import json
import re
import os
import socket
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import perf_fixtures  # noqa: E402
from helpers import guild  # noqa: E402
from viewserver import ViewServer  # noqa: E402


@pytest.fixture
def home(tmp_path):
    home = str(tmp_path / "home")
    ids = perf_fixtures.make_home(home, 3)  # oldest first; x = 1.0, 2.0, 3.0
    run_dir = os.path.join(home, "runs", ids[1])
    perf_fixtures.write_attr(run_dir, "label", "best one")
    perf_fixtures.write_attr(run_dir, "deps", {"prepare": {"run": ids[0], "paths": ["data.csv"]}})
    with open(os.path.join(run_dir, "notes.txt"), "w") as f:
        f.write("some notes\n")
    os.makedirs(os.path.join(run_dir, "plots"))
    with open(os.path.join(run_dir, "plots", "a.png"), "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    return home, ids


def tree_state(root: str) -> list[tuple[str, int, int]]:
    """Every path under ``root`` with its size and mtime: what a read-only server must leave alone."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            found.append((os.path.relpath(p, root), st.st_size, st.st_mtime_ns))
    return sorted(found)


def test_serves_runs_as_json_and_stops_on_ctrl_c(home):
    home_dir, ids = home
    with ViewServer(home_dir) as view:
        assert view.url.startswith("http://127.0.0.1:") and view.port > 0
        rows = view.json("/api/runs")
        assert [r["id"] for r in rows] == ids[::-1]  # newest first
        row = rows[1]
        assert row["operation"] == "echo.py"
        assert row["status"] == "completed"
        assert row["label"] == "best one"
        assert row["flags"] == {"x": 2.0, "y": 2, "z": "a"}
        assert row["started"].startswith("2023-11-1") and row["time"] == "0:00:00"
        detail = view.json("/api/runs/" + ids[1])
        assert detail["deps"] == [{"name": "prepare", "run": ids[0], "paths": ["data.csv"]}]
        assert detail["attributes"]["host"] == "bench"
        assert "flags" not in detail["attributes"]
        files = {f["path"]: f for f in detail["files"]}
        assert set(files) == {"notes.txt", "plots/a.png"}
        assert files["plots/a.png"]["kind"] == "image" and files["notes.txt"]["size"] == 11
        assert view.json("/api/runs/%s/output" % ids[1]) == {"text": "2.0 2 a\n", "offset": 8, "more": False}
        assert view.json("/api/runs/%s/output?offset=4" % ids[1])["text"] == "2 a\n"
        assert view.json("/api/runs/%s/preview/notes.txt" % ids[1])["text"] == "some notes\n"
        assert view.json("/api/runs/%s/preview/plots/a.png" % ids[1])["text"] is None
        status, headers, body = view.request("/api/runs/%s/files/plots/a.png?download=1" % ids[1])
        assert status == 200 and body.startswith(b"\x89PNG") and len(body) == 264
        assert headers["content-disposition"] == 'attachment; filename="a.png"'
        status, _, _ = view.request("/api/runs/%s/files/missing.txt" % ids[1])
        assert status == 404
        assert view.request("/api/runs/" + "0" * 32)[0] == 404
        code, out, err = view.stop()
    assert (code, out, err) == (0, "\n", "")


def test_run_specs_filters_and_batch_runs(home):
    home_dir, ids = home
    batch = perf_fixtures.write_run(
        os.path.join(home_dir, "runs"), "b" * 32, "builtin:'' guildai '' +", {}, perf_fixtures.BASE_US + 9_000_000
    )
    os.makedirs(os.path.join(batch, ".guild", "proto", ".guild"))
    with ViewServer(home_dir) as view:
        assert [r["id"] for r in view.json("/api/runs")] == ids[::-1]
    with ViewServer(home_dir, "--include-batch") as view:
        assert [r["id"] for r in view.json("/api/runs")] == ["b" * 32] + ids[::-1]
    with ViewServer(home_dir, "1", "3") as view:  # RUN specs index the filtered, batch-free list
        assert [r["id"] for r in view.json("/api/runs")] == [ids[2], ids[0]]
    with ViewServer(home_dir, "-Fl", "best") as view:
        assert [r["id"] for r in view.json("/api/runs")] == [ids[1]]


def test_bad_inputs_are_one_line_errors(home, tmp_path):
    home_dir, _ = home
    r = guild("view", "-n", "zzzz", cwd=str(tmp_path), home=home_dir)
    assert r.exit_code == 1
    assert r.err.splitlines()[0] == "guild: could not find a run matching 'zzzz'"
    assert "Traceback" not in r.err
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        r = guild("view", "-n", "-p", str(port), cwd=str(tmp_path), home=home_dir)
    assert r.exit_code == 1
    assert r.err == "guild: cannot listen on 127.0.0.1:%d: Address already in use\n" % port
    r = guild("view", "-n", "-h", "no-such-host.invalid", cwd=str(tmp_path), home=home_dir)
    assert r.exit_code == 1 and r.err.startswith("guild: cannot use host 'no-such-host.invalid': ")
    assert len(r.err.splitlines()) == 1
    r = guild("view", "-n", "-p", "http", cwd=str(tmp_path), home=home_dir)
    assert r.exit_code == 2 and "Traceback" not in r.err


def test_read_only_and_files_stay_inside_the_run(home, tmp_path):
    home_dir, ids = home
    run_dir = os.path.join(home_dir, "runs", ids[1])
    secret = tmp_path / "secret.txt"
    secret.write_text("do not serve\n")
    os.symlink(str(secret), os.path.join(run_dir, "escape.txt"))
    os.symlink(str(tmp_path), os.path.join(run_dir, "escape_dir"))
    os.symlink(os.path.join(home_dir, "runs", ids[0], ".guild", "output"), os.path.join(run_dir, "upstream.txt"))
    os.mkfifo(os.path.join(run_dir, "pipe"))
    before = tree_state(os.path.join(home_dir, "runs"))  # caches under Guild home may be (re)built
    with ViewServer(home_dir) as view:
        base = "/api/runs/%s/files/" % ids[1]
        refused = [
            "../%s/.guild/output" % ids[0],
            "../../../../../../etc/passwd",
            "%2e%2e/%2e%2e/%2e%2e/etc/passwd",
            "plots/..%2F..%2F..%2Fsecret.txt",
            "escape.txt",
            "escape_dir/secret.txt",
            "pipe",
            "plots",
        ]
        for path in refused:
            status, _, body = view.request(base + path)
            assert status == 403, path
            assert b"do not serve" not in body and b"root:" not in body
        assert view.request("/api/runs/%s/preview/escape.txt" % ids[1])[0] == 403
        listed = [f["path"] for f in view.json("/api/runs/" + ids[1])["files"]]
        assert listed == ["notes.txt", "pipe", "plots/a.png", "upstream.txt"]  # the links out are not listed
        assert view.request("/api/runs/..%2F..%2Fetc/output")[0] == 404
        # A link into another run (how upstream files are linked) is a file of Guild home's runs.
        assert view.request(base + "upstream.txt")[2] == b"1.0 2 a\n"
        for method in ("POST", "PUT", "DELETE", "PATCH"):
            for path in ("/api/runs", "/api/runs/" + ids[1], base + "notes.txt"):
                assert view.request(path, method=method)[0] == 405, (method, path)
        # A page elsewhere cannot reach the loopback server by another host name (DNS rebinding).
        assert view.request("/api/runs", headers={"Host": "evil.example:80"})[0] == 400
        assert view.stop()[0] == 0
    assert tree_state(os.path.join(home_dir, "runs")) == before


def test_survives_broken_runs_and_corrupt_files(home):
    home_dir, ids = home
    runs_dir = os.path.join(home_dir, "runs")
    broken = os.path.join(runs_dir, ids[0])
    with open(os.path.join(broken, ".guild", "attrs", "flags"), "w") as f:
        f.write("{not: [yaml\n")
    with open(os.path.join(broken, ".guild", "attrs", "started"), "w") as f:
        f.write("yesterday\n")
    with open(os.path.join(broken, ".guild", "attrs", "deps"), "w") as f:
        f.write("- 1\n- [2]\n")
    os.remove(os.path.join(broken, ".guild", "output"))
    os.mkdir(os.path.join(broken, ".guild", "output"))  # unreadable as a file
    with open(os.path.join(broken, ".guild", "events.out.tfevents.1.host.1.0"), "wb") as f:
        f.write(b"\x00garbage" * 50)
    from tensorboardX import SummaryWriter

    writer = SummaryWriter(os.path.join(runs_dir, ids[2], "logs"))
    writer.add_scalar("loss", 0.5, 3)
    writer.close()
    with open(os.path.join(runs_dir, ids[2], "logs", "events.out.tfevents.9.host.1.0"), "wb") as f:
        f.write(b"\x00garbage" * 50)  # a corrupt file beside a good one
    bare = os.path.join(runs_dir, "c" * 32, ".guild")
    os.makedirs(bare)
    with open(os.path.join(bare, "opref"), "w") as f:
        f.write("\x00\xff garbage")
    with ViewServer(home_dir) as view:
        rows = {r["id"]: r for r in view.json("/api/runs")}
        assert set(rows) == set(ids) | {"c" * 32}
        assert (rows["c" * 32]["operation"], rows["c" * 32]["status"]) == ("?", "error")
        assert rows[ids[0]]["flags"] == {} and rows[ids[0]]["started"] == ""
        assert rows[ids[0]]["scalars"] == {}
        assert rows[ids[2]]["scalars"] == {"logs#loss": {"value": 0.5, "step": 3}}
        assert view.json("/api/runs/%s/scalars" % ids[2]) == {"logs#loss": [[3, 0.5]]}
        detail = view.json("/api/runs/" + ids[0])
        assert detail["deps"] == [] and detail["id"] == ids[0]
        assert view.json("/api/runs/%s/output" % ids[0])["text"] == ""
        assert view.json("/api/runs/" + "c" * 32)["files"] == []
        assert view.request("/api/runs/%s/output?offset=abc" % ids[0])[0] == 400
        assert json.loads(view.request("/api/runs")[2])  # still serving
        assert view.stop()[0] == 0


def test_web_stack_stays_in_the_web_face():
    """Starlette and uvicorn are imported only under ``web/``; ``web/`` reads runs through store and model only."""
    import test_architecture

    graph, externals = test_architecture._graph()
    leaks = sorted(m for m, ext in externals.items() if ext & {"starlette", "uvicorn"} and not m.startswith("luigi_guild.web"))
    reaches = sorted(
        "%s -> %s" % (m, d)
        for m, deps in graph.items()
        if m.startswith("luigi_guild.web")
        for d in deps
        if d != "luigi_guild" and d.split(".")[1] not in ("model", "store", "web")
    )
    assert (leaks, reaches) == ([], [])
    assert "starlette" in externals["luigi_guild.web.app"]  # the check sees the imports it guards


def test_opens_the_page_in_a_browser_or_says_it_cannot(home, tmp_path):
    home_dir, _ = home
    opened = tmp_path / "opened"
    fake = tmp_path / "fake-browser"
    fake.write_text("#!/bin/sh\necho \"$1\" > %s\n" % opened)
    fake.chmod(0o755)
    import signal
    import subprocess

    for browser, first in ((str(fake), "Running Guild View at "), ("/bin/false", "Unable to open browser window for Guild View")):
        proc = subprocess.Popen(
            [sys.executable, "-m", "luigi_guild", "view"],
            cwd=str(tmp_path),
            env=dict(os.environ, GUILD_HOME=home_dir, BROWSER=browser, DISPLAY=""),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith(first)
        if browser == "/bin/false":
            line = proc.stdout.readline()
        url = line.split(" at ", 1)[1].split()[0]
        os.kill(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=20) == 0, (browser, proc.communicate())
        if browser == str(fake):
            assert opened.read_text().strip() == url


def test_logging_logs_each_request_on_stderr(home):
    home_dir, ids = home
    with ViewServer(home_dir, "--logging") as view:
        assert view.request("/api/runs")[0] == 200
        assert view.request("/api/runs/" + "0" * 32)[0] == 404
        code, out, err = view.stop()
    assert code == 0 and out == "\n"
    lines = err.splitlines()
    assert len(lines) == 2, err
    assert re.fullmatch(r'127\.0\.0\.1:\d+ - - \[\d\d/\w{3}/\d{4} [\d:]{8}\] "GET /api/runs HTTP/1\.1" 200 OK', lines[0])
    assert lines[1].endswith('"GET /api/runs/%s HTTP/1.1" 404 Not Found' % ("0" * 32))
    with ViewServer(home_dir) as view:  # without --logging: nothing
        assert view.request("/api/runs")[0] == 200
        assert view.stop() == (0, "\n", "")


def test_deleted_shows_the_trash(home):
    home_dir, ids = home
    assert guild("runs", "rm", "-y", ids[0], cwd=home_dir, home=home_dir).exit_code == 0
    with ViewServer(home_dir, "--deleted") as view:
        assert [r["id"] for r in view.json("/api/runs")] == [ids[0]]
        assert view.json("/api/runs/" + ids[0])["id"] == ids[0]
        assert view.request("/api/runs/" + ids[1])[0] == 404  # not deleted
    with ViewServer(home_dir) as view:
        assert [r["id"] for r in view.json("/api/runs")] == [ids[2], ids[1]]
        assert view.request("/api/runs/" + ids[0])[0] == 404
