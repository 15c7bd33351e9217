"""``guild view``: start-up and runs-list latency, luigi-guild vs guildai 0.9.0.

    .venv/bin/python benchmarks/view.py [--sizes 100,1000] [--repeat 5]

For each home size (completed ``echo.py`` runs from ``homes.py``, each given
three output scalars of 10 steps), each tool gets its own fresh copy of the
home and is started with ``guild view -n`` on 127.0.0.1. Measured: seconds
until it prints its URL and answers (start-up), the first runs-list request
(cold: caches built), and the median of the next ``--repeat`` requests
(warm). Ours is ``GET /api/runs`` (rows with flags and last scalars),
guildai's ``GET /runs`` (its run objects with flags and scalars). Prints
medians and the guildai/ours ratios.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
import homes  # noqa: E402

URL_RE = re.compile(r"(http://\S+) \(Type Ctrl-C to quit\)")


def add_scalars(home: str) -> None:
    """Three output scalars (10 steps each) in every run, as ``guild run`` would record them."""
    from luigi_guild.store.eventfiles import EventWriter

    runs = os.path.join(home, "runs")
    for run_id in os.listdir(runs):
        writer = EventWriter(os.path.join(runs, run_id, ".guild"))
        for step in range(10):
            for tag, val in (("loss", 1.0 / (step + 1)), ("acc", step / 10.0), ("lr", 0.01)):
                writer.add_scalar(tag, val, step)
        writer.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(port: int, path: str) -> float:
    t0 = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    conn.request("GET", path)
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    assert resp.status == 200 and body.startswith(b"["), (path, resp.status, body[:200])
    return time.perf_counter() - t0


def measure(argv: list[str], home: str, path: str, repeat: int) -> tuple[float, float, float]:
    """(start-up s, cold request s, warm median s) for one server."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, env=dict(os.environ, GUILD_HOME=home), cwd=home, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, start_new_session=True)
    try:
        assert proc.stdout is not None
        m = URL_RE.search(proc.stdout.readline())
        assert m, "no URL from %s" % argv
        port = int(m.group(1).rsplit(":", 1)[1])
        while True:  # guildai prints its URL before it listens
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.01)
        startup = time.perf_counter() - t0
        cold = get(port, path)
        warm = statistics.median(get(port, path) for _ in range(repeat))
        return startup, cold, warm
    finally:
        os.kill(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="100,1000")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--guildai-venv", default=os.path.join(HERE, ".guildai-venv"))
    args = ap.parse_args()
    ours = [sys.executable, "-m", "luigi_guild", "view", "-n"]
    theirs_exe = os.path.join(args.guildai_venv, "bin", "guild")
    rows = []
    for n in [int(s) for s in args.sizes.split(",")]:
        src = homes.cached_home(n)
        with tempfile.TemporaryDirectory() as tmp:
            sides = {"ours": os.path.join(tmp, "ours"), "guildai": os.path.join(tmp, "guildai")}
            homes.fresh_copy(src, sides["ours"])
            add_scalars(sides["ours"])
            subprocess.run(["cp", "-a", sides["ours"], sides["guildai"]], check=True)
            got = {"ours": measure(ours, sides["ours"], "/api/runs", args.repeat)}
            if os.path.exists(theirs_exe):
                argv = [theirs_exe, "view", "-n", "-h", "127.0.0.1", "-p", str(free_port())]
                got["guildai"] = measure(argv, sides["guildai"], "/runs", args.repeat)
            rows.append((n, got))
            shutil.rmtree(tmp, ignore_errors=True)
    print("| runs | figure | ours (s) | guildai 0.9.0 (s) | guildai / ours |")
    print("|---|---|---|---|---|")
    for n, got in rows:
        for i, name in enumerate(("start-up", "runs list, cold", "runs list, warm median")):
            o = got["ours"][i]
            g = got.get("guildai", (None, None, None))[i]
            ratio = "%.1fx" % (g / o) if g else "-"
            print("| %d | %s | %.3f | %s | %s |" % (n, name, o, "%.3f" % g if g else "-", ratio))


if __name__ == "__main__":
    main()
