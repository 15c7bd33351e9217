#!/usr/bin/env python3
"""Benchmark ``guild compare --csv -`` over homes of runs with scalars, ours vs guildai 0.9.0.

Usage: ``python benchmarks/compare_bench.py [--sizes 1000,10000] [--repeat 5] [--ours PATH]
[--guildai-venv DIR] [--out benchmarks/results-compare.md] [--record-guildai | --guildai-recorded]``

Homes are the ``echo.py`` homes of ``homes.py`` plus, in each run's ``.guild/``, one event
file as guildai's output-scalar capture writes it (``loss`` and ``acc`` at steps 0..2, and a
``sys/cpu`` value), so both tools see the same runs with three scalars each. Each tool gets
its own fresh copy per home. *cold* is the first call on that copy (no index or cache of
either tool); the median is over ``--repeat`` warm calls, alternating the tools. Both tools'
outputs must be identical CSV, or the figure is marked as an error.

guildai's first call on a 10,000-run home takes many minutes. ``--record-guildai`` measures
guildai alone (cold call, then ``--repeat`` warm calls; one hour's timeout per call) and keeps
the figures, with the date, the load average and a digest of guildai's CSV, in the
"Recorded guildai figures" section of ``--out``. ``--guildai-recorded`` then times only our
side and compares it with those recorded figures (labelled as recorded, with their date);
our CSV is checked against the recorded digest of guildai's.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import io
import os
import re
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


RECORDED_START = "<!-- guildai-recorded: kept across runs of this script -->"
RECORDED_END = "<!-- /guildai-recorded -->"
RECORDED_HEADER = [
    "## Recorded guildai figures",
    "",
    "Measured by `python benchmarks/compare_bench.py --record-guildai`; reused (labelled *recorded*)",
    "by `--guildai-recorded`. Load is the 1-minute load average before and after the measurement.",
    "",
    "| runs | guildai warm median s | guildai cold s | peak MiB | warm samples s | CSV sha256 | date (UTC) | load before / after |",
    "|---|---|---|---|---|---|---|---|",
]
_ROW = re.compile(r"^\| (\d+) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \| [^|]* \| ([0-9a-f]{64}) \| ([^|]+) \|")


def read_recorded(path: str) -> dict[int, dict[str, object]]:
    """Recorded guildai figures by home size, from the results file's recorded section."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return {}
    found: dict[int, dict[str, object]] = {}
    inside = False
    for line in text.splitlines():
        if line.strip() == RECORDED_START:
            inside = True
        elif line.strip() == RECORDED_END:
            inside = False
        elif inside:
            m = _ROW.match(line)
            if m:
                found[int(m.group(1))] = {
                    "median": float(m.group(2)), "cold": float(m.group(3)), "peak": float(m.group(4)),
                    "sha256": m.group(5), "date": m.group(6).strip(), "line": line,
                }
    return found


def recorded_section(path: str, new_rows: dict[int, str]) -> list[str]:
    """The recorded section with ``new_rows`` (by size) replacing or joining the kept rows."""
    rows = {n: str(r["line"]) for n, r in read_recorded(path).items()}
    rows.update(new_rows)
    return [RECORDED_START, *RECORDED_HEADER, *(rows[n] for n in sorted(rows)), RECORDED_END, ""]


def _loadavg() -> str:
    return "%.2f" % os.getloadavg()[0]


def record_guildai(args: argparse.Namespace, guildai: list[str], sizes: list[int]) -> int:
    """Time guildai alone at ``sizes``; keep the figures in the recorded section of ``args.out``."""
    cmd = ["compare", "--csv", "-"]
    new_rows: dict[int, str] = {}
    for n in sizes:
        load0 = _loadavg()
        date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M")
        home = bench.fresh_home(scalar_home(n), "compare-guildai-rec-%d" % n)
        res = bench.measure([bench.Side("guildai", guildai + cmd, home)], args.repeat)["guildai"]
        last = bench.run_timed(guildai + cmd, home) if not res.error else None
        print("guildai at %d runs: cold %s s, warm %s s" % (n, res.cold, res.samples), flush=True)
        bench.drop_home(home)
        if res.error or last is None or last.rc != 0 or last.stdout.count("\n") != n + 1:
            print("guildai at %d runs: %s" % (n, res.error or "unexpected output"), file=sys.stderr)
            continue
        digest = hashlib.sha256(last.stdout.encode()).hexdigest()
        new_rows[n] = "| %d | %.3f | %.3f | %.0f | %s | %s | %s | %s / %s |" % (
            n, res.median or 0.0, res.cold or 0.0, res.peak_mib or 0.0,
            ", ".join("%.2f" % s for s in res.samples), digest, date, load0, _loadavg())
        print(new_rows[n], flush=True)
    keep = _without_recorded(args.out)
    with open(args.out, "w") as f:
        f.write("\n".join(keep + recorded_section(args.out, new_rows)))
    return 0 if len(new_rows) == len(sizes) else 1


def _without_recorded(path: str) -> list[str]:
    """The results file's lines outside the recorded section (trailing blanks trimmed)."""
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    out: list[str] = []
    inside = False
    for line in lines:
        if line.strip() == RECORDED_START:
            inside = True
        elif line.strip() == RECORDED_END:
            inside = False
        elif not inside:
            out.append(line)
    while out and not out[-1].strip():
        out.pop()
    return out + [""] if out else []


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="1000,10000")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--ours", default=bench.default_ours())
    p.add_argument("--guildai-venv", default=os.environ.get("GUILDAI_VENV") or os.path.join(HERE, ".guildai-venv"))
    p.add_argument("--out", default=os.path.join(HERE, "results-compare.md"))
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--record-guildai", action="store_true",
                      help="time guildai alone and keep its figures in --out for --guildai-recorded")
    mode.add_argument("--guildai-recorded", action="store_true",
                      help="at sizes with recorded guildai figures in --out, time ours only and compare with those")
    args = p.parse_args(argv)
    t0 = time.time()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    ours = [os.path.abspath(args.ours)]
    recorded = read_recorded(args.out) if args.guildai_recorded else {}
    live = [n for n in sizes if n not in recorded]
    gai = bench.ensure_guildai(args.guildai_venv) if live or args.record_guildai else None
    guildai = [gai] if gai else []
    if args.record_guildai:
        return record_guildai(args, guildai, sizes)
    bench.compile_ours(args.ours)
    cmd = ["compare", "--csv", "-"]
    lines = [
        "# `guild compare --csv -` with scalars: luigi-guild vs guildai 0.9.0",
        "",
        *bench.machine_info(bench.tool_version(ours), bench.tool_version(guildai) if guildai else "guild 0.9.0 (recorded)"),
        "- load average (1 min) at start: %s" % _loadavg(),
        "- command: `python benchmarks/compare_bench.py --sizes %s --repeat %d%s`"
        % (args.sizes, args.repeat, " --guildai-recorded" if args.guildai_recorded else ""),
        "",
        "| runs | ours warm median s | guildai warm median s | warm ratio | ours cold s | guildai cold s | cold ratio | peak MiB (ours / guildai) | target | met? |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    notes: list[str] = []
    to_drop: list[str] = []  # removed after the results are written (10,000 runs take minutes)
    for n in sizes:
        src = scalar_home(n)
        our_home = bench.fresh_home(src, "compare-ours-%d" % n)
        sides = [bench.Side("ours", ours + cmd, our_home)]
        their_home = None
        if guildai and n not in recorded:
            their_home = bench.fresh_home(src, "compare-guildai-%d" % n)
            sides.append(bench.Side("guildai", guildai + cmd, their_home))
        results = bench.measure(sides, args.repeat)
        o, g = results["ours"], results.get("guildai")
        same = "n/a"
        rec = recorded.get(n)
        if rec is not None:
            g = bench.Result(median=float(rec["median"]), cold=float(rec["cold"]), peak_mib=float(rec["peak"]),
                             note="recorded")
            notes.append("guildai at %d runs: recorded %s UTC (see below), not measured in this run." % (n, rec["date"]))
            if not o.error:
                a = bench.run_timed(ours + cmd, our_home)
                same = "yes" if hashlib.sha256(a.stdout.encode()).hexdigest() == rec["sha256"] else "NO"
        elif g is not None and not o.error and not g.error:
            a = bench.run_timed(ours + cmd, our_home)
            b = bench.run_timed(guildai + cmd, their_home)
            same = "yes" if a.stdout == b.stdout and a.stdout.count("\n") == n + 1 else "NO"
        if same == "NO":
            o.error = "output differs from guildai's"
        warm = g.median / o.median if g and g.median and o.median else None
        cold = g.cold / o.cold if g and g.cold and o.cold else None
        met = warm is not None and cold is not None and warm >= 30 and cold >= 1
        label = " (recorded)" if rec is not None else ""
        lines.append(
            "| %d | %s | %s | %s | %s | %s | %s | %.0f / %s | warm >= 30x, cold >= 1x | %s |"
            % (
                n,
                o.cell(),
                (g.cell() + label) if g else "n/a",
                "%.1fx faster" % warm if warm else "n/a",
                "%.3f" % o.cold if o.cold is not None else "n/a",
                ("%.3f" % g.cold + label) if g and g.cold is not None else "n/a",
                "%.1fx faster" % cold if cold else "n/a",
                o.peak_mib or 0,
                "%.0f" % g.peak_mib if g and g.peak_mib else "n/a",
                ("yes" if met else "NO") + ("" if same in ("yes", "n/a") else " (outputs differ)"),
            )
        )
        print(lines[-1], flush=True)
        to_drop += [our_home] + ([their_home] if their_home else [])
    lines += [
        "",
        "Identical CSV from both tools was checked for every size (against the recorded digest of",
        "guildai's CSV where guildai's figure is recorded); a mismatch is reported as an error.",
        *notes,
        "Load average (1 min) at the end: %s. Elapsed: %.0f s." % (_loadavg(), time.time() - t0),
        "",
    ]
    kept = recorded_section(args.out, {})
    with open(args.out, "w") as f:
        f.write("\n".join(lines + kept))
    print("\n".join(lines), flush=True)
    for home in to_drop:
        bench.drop_home(home)
    return 0


if __name__ == "__main__":
    sys.exit(main())
