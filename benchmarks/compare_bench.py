#!/usr/bin/env python3
"""Benchmark ``guild compare --csv -`` over homes of runs with scalars, ours vs guildai 0.9.0.

Usage: ``python benchmarks/compare_bench.py [--sizes 1000,10000] [--repeat 5] [--ours PATH]
[--guildai-venv DIR] [--out benchmarks/results-compare.md]``

Homes are the ``echo.py`` homes of ``homes.py`` plus, in each run's ``.guild/``, one event
file as guildai's output-scalar capture writes it (``loss`` and ``acc`` at steps 0..2, and a
``sys/cpu`` value), so both tools see the same runs with three scalars each. Each tool gets
its own fresh copy per home. *cold* is the first call on that copy (no index or cache of
either tool); the median is over ``--repeat`` warm calls, alternating the tools. Both tools'
outputs must be identical CSV, or the figure is marked as an error.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import homes  # noqa: E402
import run as bench  # noqa: E402

FORMAT_VERSION = "1"


def event_file_bytes(i: int) -> bytes:
    """One event file's bytes: ``loss``/``acc`` over 3 steps and one system scalar."""
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.summary.writer.record_writer import RecordWriter

    buf = io.BytesIO()
    w = RecordWriter(buf)
    w.write(event_pb2.Event(wall_time=0.0, file_version="brain.Event:2").SerializeToString())

    def scalar(tag: str, val: float, step: int) -> None:
        v = summary_pb2.Summary.Value(tag=tag, simple_value=val)
        ev = event_pb2.Event(wall_time=0.0, step=step, summary=summary_pb2.Summary(value=[v]))
        w.write(ev.SerializeToString())

    for step in range(3):
        scalar("loss", 1.0 / (i + step + 1), step)
        scalar("acc", (i % 100) / 100.0 + step / 1000.0, step)
    scalar("sys/cpu", 10.0, 2)
    return buf.getvalue()


def scalar_home(n: int) -> str:
    """A cached home of ``n`` runs with an output-scalar event file each."""
    dest = os.path.join(HERE, "out", "homes", "scalars-v%s-%s-%d" % (FORMAT_VERSION, homes.FORMAT_VERSION, n))
    if os.path.isdir(os.path.join(dest, "runs")):
        return dest
    tmp = dest + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    ids = homes.generate_home(tmp, n)
    for i, run_id in enumerate(ids):
        name = "events.out.tfevents.%010d.bench.%d.0" % (1704067200 + i * 10, 1000 + i)
        with open(os.path.join(tmp, "runs", run_id, ".guild", name), "wb") as f:
            f.write(event_file_bytes(i))
    os.rename(tmp, dest)
    return dest


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="1000,10000")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--ours", default=bench.default_ours())
    p.add_argument("--guildai-venv", default=os.path.join(HERE, ".guildai-venv"))
    p.add_argument("--out", default=os.path.join(HERE, "results-compare.md"))
    args = p.parse_args(argv)
    t0 = time.time()
    ours = [os.path.abspath(args.ours)]
    bench.compile_ours(args.ours)
    gai = bench.ensure_guildai(args.guildai_venv)
    guildai = [gai] if gai else []
    cmd = ["compare", "--csv", "-"]
    lines = [
        "# `guild compare --csv -` with scalars: luigi-guild vs guildai 0.9.0",
        "",
        *bench.machine_info(bench.tool_version(ours), bench.tool_version(guildai) if guildai else "n/a"),
        "- command: `python benchmarks/compare_bench.py --sizes %s --repeat %d`" % (args.sizes, args.repeat),
        "",
        "| runs | ours warm median s | guildai warm median s | warm ratio | ours cold s | guildai cold s | cold ratio | peak MiB (ours / guildai) | target | met? |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for n in [int(s) for s in args.sizes.split(",") if s]:
        src = scalar_home(n)
        our_home = bench.fresh_home(src, "compare-ours-%d" % n)
        sides = [bench.Side("ours", ours + cmd, our_home)]
        their_home = None
        if guildai:
            their_home = bench.fresh_home(src, "compare-guildai-%d" % n)
            sides.append(bench.Side("guildai", guildai + cmd, their_home))
        results = bench.measure(sides, args.repeat)
        o, g = results["ours"], results.get("guildai")
        same = "n/a"
        if g is not None and not o.error and not g.error:
            a = bench.run_timed(ours + cmd, our_home)
            b = bench.run_timed(guildai + cmd, their_home)
            same = "yes" if a.stdout == b.stdout and a.stdout.count("\n") == n + 1 else "NO"
            if same == "NO":
                o.error = "output differs from guildai's"
        warm = g.median / o.median if g and g.median and o.median else None
        cold = g.cold / o.cold if g and g.cold and o.cold else None
        met = warm is not None and cold is not None and warm >= 30 and cold >= 1
        lines.append(
            "| %d | %s | %s | %s | %s | %s | %s | %.0f / %s | warm >= 30x, cold >= 1x | %s |"
            % (
                n,
                o.cell(),
                g.cell() if g else "n/a",
                "%.1fx faster" % warm if warm else "n/a",
                "%.3f" % o.cold if o.cold is not None else "n/a",
                "%.3f" % g.cold if g and g.cold is not None else "n/a",
                "%.1fx faster" % cold if cold else "n/a",
                o.peak_mib or 0,
                "%.0f" % g.peak_mib if g and g.peak_mib else "n/a",
                ("yes" if met else "NO") + ("" if same in ("yes", "n/a") else " (outputs differ)"),
            )
        )
        print(lines[-1], flush=True)
        bench.drop_home(our_home)
        if their_home:
            bench.drop_home(their_home)
    lines += [
        "",
        "Identical CSV from both tools was checked for every size (a mismatch is reported as an error).",
        "Elapsed: %.0f s." % (time.time() - t0),
        "",
    ]
    with open(args.out, "w") as f:
        f.write("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
