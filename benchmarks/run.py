#!/usr/bin/env python3
"""Benchmark luigi-guild's ``guild`` against guildai 0.9.0 (and bare ``python echo.py``).

Usage: ``python benchmarks/run.py [--quick] [--sizes 0,100,1000,10000] [--repeat 5]
[--ours PATH] [--guildai-venv DIR] [--out benchmarks/results.md]``

Method (also written into the results file):

* Guild homes of N completed ``echo.py`` runs are generated once in Guild 0.9's exact layout
  (``benchmarks/homes.py``) and cached under ``benchmarks/out/homes``. Each tool gets its own
  fresh ``cp -a`` copy per home, so neither tool's caches or index files help the other and
  both start from the same state.
* Per figure: one *cold* first call per tool on its fresh copy (timed, reported separately; it
  doubles as the warm-up), then ``--repeat`` timed *warm* calls, alternating the tools inside
  every repetition (A,B then B,A ...). Warm calls may use each tool's own caches, as a user's
  repeated commands do. The table shows warm medians.
* Wall time is ``time.perf_counter`` around spawn + ``os.wait4``; peak memory is ``ru_maxrss``
  from ``os.wait4`` (largest process in the command's process tree), in MiB.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import homes  # noqa: E402

PROJECT_DIR = homes.PROJECT_DIR
WORK_DIR = os.path.join(HERE, "out", "work")
GUILDAI_VERSION = "0.9.0"
BENCH_ENV = {
    "NO_PIP_FREEZE": "1",
    "NO_VCS_COMMIT": "1",
    "NO_IMPORT_FLAGS_PROGRESS": "1",
    "COLUMNS": "999",
}
SKIP_MESSAGE = "Skipping because the following runs match this operation"
TIMEOUT_S = 3600.0


# --------------------------------------------------------------------------- processes


@dataclass
class Sample:
    """One timed command."""

    seconds: float
    maxrss_mib: float
    rc: int
    stdout: str
    stderr: str

    def error_line(self) -> str:
        """First non-empty line of stderr (or stdout) for an error note; a traceback's last line."""
        for text in (self.stderr, self.stdout):
            lines = [line.strip() for line in text.splitlines() if line.strip()]
            if lines:
                return (lines[-1] if lines[0].startswith("Traceback") else lines[0])[:120]
        return "exit %d" % self.rc


def run_timed(argv: list[str], home: Optional[str], cwd: str = PROJECT_DIR) -> Sample:
    """Run ``argv`` with ``GUILD_HOME=home``; return wall time, peak RSS and output."""
    env = dict(os.environ, **BENCH_ENV)
    if home is not None:
        env["GUILD_HOME"] = home
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        try:
            proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        except OSError as e:
            return Sample(0.0, 0.0, 127, "", "%s: %s" % (argv[0], e))
        timer = threading.Timer(TIMEOUT_S, proc.kill)
        timer.start()
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - t0
        timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Sample(
            elapsed,
            usage.ru_maxrss / 1024.0,  # KiB on Linux
            proc.returncode,
            out.read().decode("utf-8", "replace"),
            err.read().decode("utf-8", "replace"),
        )


# --------------------------------------------------------------------------- measuring


@dataclass
class Side:
    """One contender in a figure: a name, its command and the home it runs against."""

    name: str
    argv: list[str]
    home: Optional[str]
    check: Optional[Callable[[Sample], Optional[str]]] = None  # returns an error or None


@dataclass
class Result:
    """Timings of one side of one figure."""

    median: Optional[float] = None
    cold: Optional[float] = None
    peak_mib: Optional[float] = None
    samples: list[float] = field(default_factory=list)
    error: Optional[str] = None
    extrapolated: bool = False
    note: str = ""

    def cell(self) -> str:
        """Median seconds as a table cell."""
        if self.error:
            return "n/a (error: %s)" % self.error.replace("|", "\\|")
        if self.median is None:
            return "n/a" + (" (%s)" % self.note if self.note else "")
        s = "%.3f" % self.median
        return s + " (extrapolated)" if self.extrapolated else s


def _check(side: Side, sample: Sample) -> Optional[str]:
    if sample.rc != 0:
        return sample.error_line()
    if side.check:
        return side.check(sample)
    return None


def measure(sides: list[Side], repeat: int) -> dict[str, Result]:
    """Cold call per side, then ``repeat`` warm rounds alternating the sides; never raises."""
    results = {s.name: Result() for s in sides}
    for side in sides:
        sample = run_timed(side.argv, side.home)
        res = results[side.name]
        res.error = _check(side, sample)
        res.cold = sample.seconds
        res.peak_mib = sample.maxrss_mib
    for rep in range(repeat):
        order = sides if rep % 2 == 0 else list(reversed(sides))
        for side in order:
            res = results[side.name]
            if res.error:
                continue
            sample = run_timed(side.argv, side.home)
            res.error = _check(side, sample)
            res.samples.append(sample.seconds)
            res.peak_mib = max(res.peak_mib or 0.0, sample.maxrss_mib)
    for res in results.values():
        if res.samples and not res.error:
            res.median = statistics.median(res.samples)
    return results


def measure_once(side: Side) -> Result:
    """A single timed call (for sweeps, which are too long to repeat)."""
    sample = run_timed(side.argv, side.home)
    err = _check(side, sample)
    if err:
        return Result(error=err, cold=sample.seconds)
    return Result(median=sample.seconds, cold=sample.seconds, peak_mib=sample.maxrss_mib, samples=[sample.seconds])


def expect_skip(sample: Sample) -> Optional[str]:
    """Check for ``--needed``: the command must have printed Guild's skip message."""
    if SKIP_MESSAGE not in sample.stdout:
        return "no skip message: " + (sample.stdout.strip().splitlines() or ["(no output)"])[0][:80]
    return None


# --------------------------------------------------------------------------- table


@dataclass
class Row:
    """One line of the results table."""

    figure: str
    size: str
    ours: Result
    base: Result
    base_name: str
    target: str = ""
    ratio_kind: str = "speedup"  # "speedup": base/ours; "slowdown": ours/base
    met: Optional[bool] = None
    ratio: Optional[float] = None

    def compute(self, check: Optional[Callable[["Row"], Optional[bool]]] = None) -> "Row":
        """Fill in ratio and (with ``check``) whether the target is met."""
        if self.ours.median and self.base.median:
            if self.ratio_kind == "speedup":
                self.ratio = self.base.median / self.ours.median
            else:
                self.ratio = self.ours.median / self.base.median
        if check is not None:
            self.met = check(self)
        return self

    def ratio_cell(self) -> str:
        if self.ratio is None:
            return "n/a"
        if self.ratio_kind == "speedup":
            return "%.1fx faster" % self.ratio
        return "%.2fx %s" % (self.ratio, self.base_name)

    def cells(self) -> list[str]:
        met = {True: "yes", False: "NO", None: ""}[self.met]
        mib = lambda r: "%.0f" % r.peak_mib if r.peak_mib and not r.error else "n/a"  # noqa: E731
        cold = lambda r: "%.3f" % r.cold if r.cold is not None and not (r.extrapolated or r.error) else "n/a"  # noqa: E731
        return [
            self.figure,
            self.size,
            self.ours.cell(),
            "%s: %s" % (self.base_name, self.base.cell()),
            self.ratio_cell(),
            "%s / %s" % (cold(self.ours), cold(self.base)),
            "%s / %s" % (mib(self.ours), mib(self.base)),
            self.target,
            met,
        ]


HEADER = ["figure", "size", "ours median s", "baseline median s", "ratio", "cold s (ours / base)",
          "peak MiB (ours / base)", "target", "met?"]


def markdown_table(rows: list[Row]) -> str:
    """Rows as a GitHub Markdown table."""
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(r.cells()) + " |" for r in rows]
    return "\n".join(lines)


# --------------------------------------------------------------------------- setup


def ensure_guildai(venv: str) -> str:
    """Path of guildai's ``guild`` in ``venv``; create the venv and install guildai if missing."""
    guild = os.path.join(venv, "bin", "guild")
    if os.path.exists(guild):
        return guild
    print("Installing guildai %s into %s ..." % (GUILDAI_VERSION, venv), flush=True)
    subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    pip = [os.path.join(venv, "bin", "python"), "-m", "pip", "install", "-q"]
    # guildai 0.9.0 imports pkg_resources: Python >= 3.12 venvs have no setuptools and
    # setuptools 84 dropped pkg_resources, so pin a release that still has it.
    subprocess.run(pip + ["setuptools<81", "guildai==%s" % GUILDAI_VERSION], check=True)
    return guild


def tool_version(argv: list[str]) -> str:
    """``--version`` output (first line) or the error."""
    s = run_timed(argv + ["--version"], None)
    return s.stdout.strip().splitlines()[0] if s.rc == 0 and s.stdout.strip() else "error: " + s.error_line()


def compile_ours(guild_exe: str) -> str:
    """Byte-compile our package, as pip does for guildai's; returns what was done.

    An editable install never byte-compiles, and with ``PYTHONDONTWRITEBYTECODE``
    set Python would recompile every module on every call, which would time
    the compiler rather than the tool.
    """
    try:
        with open(guild_exe, "rb") as f:
            first = f.readline().decode("utf-8", "replace")
    except OSError as e:
        return "not compiled (%s)" % e
    python = first[2:].strip() if first.startswith("#!") else sys.executable
    code = "import luigi_guild, os; print(os.path.dirname(luigi_guild.__file__))"
    found = subprocess.run([python, "-c", code], capture_output=True, text=True)
    if found.returncode != 0:
        return "not compiled (luigi_guild not importable by %s)" % python
    pkg = found.stdout.strip()
    done = subprocess.run([python, "-m", "compileall", "-q", pkg], capture_output=True, text=True)
    return "byte-compiled %s" % pkg if done.returncode == 0 else "compileall failed: %s" % done.stderr.strip()


def fresh_home(src: Optional[str], name: str) -> str:
    """A fresh copy of home ``src`` (or a new empty home) at ``out/work/name``."""
    dest = os.path.join(WORK_DIR, name)
    if src is None:
        shutil.rmtree(dest, ignore_errors=True)
        os.makedirs(dest)
        return dest
    return homes.fresh_copy(src, dest)


def drop_home(path: str) -> None:
    shutil.rmtree(path, ignore_errors=True)


def count_runs(home: str) -> int:
    runs = os.path.join(home, "runs")
    return len(os.listdir(runs)) if os.path.isdir(runs) else 0


def list_flag(values: range) -> str:
    """``x=[a,b,...]`` grid flag argument."""
    return "x=[%s]" % ",".join(str(v) for v in values)


# --------------------------------------------------------------------------- figures


class Bench:
    """Runs every figure and collects table rows and notes."""

    def __init__(self, ours: list[str], guildai: list[str], args: argparse.Namespace) -> None:
        self.ours = ours
        self.guildai = guildai
        self.args = args
        self.rows: list[Row] = []
        self.notes: list[str] = []

    def log(self, msg: str) -> None:
        print("[%s] %s" % (time.strftime("%H:%M:%S"), msg), flush=True)

    def add(self, row: Row, check: Optional[Callable[[Row], Optional[bool]]] = None) -> None:
        row.compute(check)
        self.rows.append(row)
        self.log("  %s [%s]: ours %s | %s %s | %s" % (
            row.figure, row.size, row.ours.cell(), row.base_name, row.base.cell(), row.ratio_cell()))

    def run_listing_figures(self, sizes: list[int]) -> None:
        """``guild runs``, ``guild runs --all`` and the ``--needed`` skip at each size."""
        biggest = max(sizes)
        for n in sizes:
            self.log("home with %d runs" % n)
            src = homes.cached_home(n) if n else None
            h_ours = fresh_home(src, "ours-%d" % n)
            h_gai = fresh_home(src, "guildai-%d" % n)
            rep = self.args.repeat
            figs: list[tuple[str, list[str], Optional[Callable], str, Optional[Callable]]] = [
                ("`guild runs`", ["runs"], None, *self._runs_target(n, biggest)),
            ]
            if n:
                figs.append(("`guild runs --all`", ["runs", "--all"], None,
                             *self._speedup_target(n, biggest, 60)))
                figs.append(("`guild run echo.py --needed -y` (skip)", ["run", "echo.py", "--needed", "-y"],
                             expect_skip, *self._speedup_target(n, biggest, 30)))
            for title, cmd, check, target, target_check in figs:
                res = measure([Side("ours", self.ours + cmd, h_ours, check),
                               Side("guildai", self.guildai + cmd, h_gai, check)], rep)
                self.add(Row(title, "%d runs" % n, res["ours"], res["guildai"], "guildai", target), target_check)
            drop_home(h_ours)
            drop_home(h_gai)

    @staticmethod
    def _runs_target(n: int, biggest: int) -> tuple[str, Optional[Callable]]:
        if n == 0:
            return "ours <= 0.1 s", lambda r: None if r.ours.median is None else r.ours.median <= 0.1
        return Bench._speedup_target(n, biggest, 30)

    @staticmethod
    def _speedup_target(n: int, biggest: int, x: float) -> tuple[str, Optional[Callable]]:
        if n == biggest and n >= 10000:
            return ">= %gx" % x, lambda r: None if r.ratio is None else r.ratio >= x
        return "", None

    def run_full_run(self) -> None:
        """A full ``guild run echo.py -y`` vs bare ``python echo.py`` (and vs guildai)."""
        self.log("full run")
        h_ours = fresh_home(None, "ours-full")
        h_gai = fresh_home(None, "guildai-full")
        cmd = ["run", "echo.py", "-y"]
        res = measure([Side("ours", self.ours + cmd, h_ours), Side("guildai", self.guildai + cmd, h_gai),
                       Side("bare", [sys.executable, "echo.py"], None)], self.args.repeat)
        self.add(Row("full `guild run echo.py -y`", "1 run", res["ours"], res["bare"],
                     "bare `python echo.py`", "<= 10x bare", "slowdown"),
                 lambda r: None if r.ratio is None else r.ratio <= 10)
        self.add(Row("full `guild run echo.py -y`", "1 run", res["ours"], res["guildai"], "guildai"))
        for h in (h_ours, h_gai):
            drop_home(h)

    def run_sweeps(self, ours_trials: list[int], guildai_trials: int) -> None:
        """Grid sweeps: ours at each size with 2 workers; guildai once at a small size."""
        self.log("guildai sweep of %d trials (per-trial cost for extrapolation)" % guildai_trials)
        h = fresh_home(None, "guildai-sweep")
        gai = measure_once(Side("guildai", self.guildai + ["run", "echo.py", list_flag(range(guildai_trials)), "-y"], h))
        drop_home(h)
        gai_per_trial = gai.median / guildai_trials if gai.median else None
        if gai_per_trial:
            self.notes.append(
                "guildai sweeps were measured once at %d trials (%.3f s, %.3f s per trial, serial: guildai has "
                "no `--workers`); its figures for larger sweeps are that per-trial cost times the trial "
                "count, labelled *extrapolated*." % (guildai_trials, gai.median, gai_per_trial))
        per_trial: dict[int, float] = {}
        for n in ours_trials:
            self.log("ours sweep of %d trials" % n)
            h = fresh_home(None, "ours-sweep-%d" % n)
            ours = measure_once(Side("ours", self.ours + ["run", "echo.py", list_flag(range(n)), "-y",
                                                         "--workers", "2"], h))
            if ours.median:
                per_trial[n] = ours.median / n
                made = count_runs(h)
                if made < n:
                    ours.note = "only %d runs created" % made
                    self.notes.append("ours sweep of %d trials created %d runs." % (n, made))
            drop_home(h)
            base = Result(median=gai_per_trial * n, extrapolated=True, peak_mib=gai.peak_mib) if gai_per_trial else gai
            if n == guildai_trials:
                base = gai
            self.add(Row("sweep `x=[0..%d]` `--workers 2`" % (n - 1), "%d trials" % n, ours, base, "guildai"))
        if len(per_trial) >= 2:
            lo, hi = min(per_trial), max(per_trial)
            growth = per_trial[hi] / per_trial[lo]
            linear = growth <= 1.5
            self.notes.append(
                "Sweep scheduling: %.4f s/trial at %d trials vs %.4f s/trial at %d trials (x%.2f); target "
                "linear in trials (per-trial cost grows <= 1.5x): %s."
                % (per_trial[lo], lo, per_trial[hi], hi, growth, "met" if linear else "NOT met"))

    def run_needed_recheck(self, n: int) -> None:
        """All-done ``--needed`` re-check of an n-trial sweep whose trials all exist."""
        self.log("--needed re-check of a %d-trial sweep" % n)
        h = fresh_home(homes.cached_home(n, sweep=True), "ours-needed-sweep-%d" % n)
        ours = measure_once(Side("ours", self.ours + ["run", "echo.py", list_flag(range(n)), "--needed", "-y"], h))
        extra = count_runs(h) - n
        if ours.median is not None and extra > 0:
            ours.note = "created %d new runs" % extra
            self.notes.append("The `--needed` sweep re-check created %d new runs (expected ~0: every trial "
                              "matches a completed run; a kept batch run would add 1)." % extra)
        drop_home(h)
        base = Result(note="guildai's --needed compares only the batch run, which is deleted on success, "
                           "so it re-runs every trial")
        self.add(Row("all-done sweep re-check `--needed`", "%d trials" % n, ours, base, "guildai"))


# --------------------------------------------------------------------------- main


def default_ours() -> str:
    return os.path.join(os.path.dirname(sys.executable), "guild")


def parse_args(argv: Optional[list[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Benchmark luigi-guild against guildai %s." % GUILDAI_VERSION)
    p.add_argument("--sizes", help="comma-separated home sizes (default 0,100,1000,10000; quick 0,10,100)")
    p.add_argument("--repeat", type=int, help="timed warm repetitions per figure (default 5; quick 3)")
    p.add_argument("--quick", action="store_true", help="small sizes, 3 repeats, small sweeps only")
    p.add_argument("--ours", default=default_ours(), help="our guild executable (default: next to python)")
    p.add_argument("--guildai-venv", default=os.path.join(HERE, ".guildai-venv"),
                   help="venv holding guildai %s (created if missing)" % GUILDAI_VERSION)
    p.add_argument("--out", default=os.path.join(HERE, "results.md"), help="Markdown results file")
    args = p.parse_args(argv)
    args.sizes = [int(s) for s in (args.sizes or ("0,10,100" if args.quick else "0,100,1000,10000")).split(",")]
    if args.repeat is None:
        args.repeat = 3 if args.quick else 5
    return args


def machine_info(ours_version: str, guildai_version: str) -> list[str]:
    return [
        "- date: %s" % datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "- cores: %d; %s" % (os.cpu_count() or 0, platform.platform()),
        "- python: %s" % platform.python_version(),
        "- ours: `%s`; guildai: `%s`" % (ours_version, guildai_version),
    ]


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(argv)
    t_start = time.time()
    ours = [os.path.abspath(args.ours)]
    guildai = [ensure_guildai(os.path.abspath(args.guildai_venv))]
    compiled = compile_ours(ours[0])
    ours_version, gai_version = tool_version(ours), tool_version(guildai)
    bench = Bench(ours, guildai, args)
    bench.log("ours: %s" % compiled)
    bench.log("ours: %s (%s); guildai: %s" % (ours[0], ours_version, gai_version))
    bench.run_listing_figures(args.sizes)
    bench.run_full_run()
    if args.quick:
        bench.run_sweeps([20], guildai_trials=10)
        bench.run_needed_recheck(20)
    else:
        bench.run_sweeps([1000, 5000], guildai_trials=20)
        bench.run_needed_recheck(10000)
    shutil.rmtree(WORK_DIR, ignore_errors=True)
    elapsed = time.time() - t_start
    report = render(bench, args, ours_version, gai_version, elapsed)
    print()
    print(report)
    with open(args.out, "w") as f:
        f.write(report)
    print("wrote %s" % args.out)
    return 0


def render(bench: Bench, args: argparse.Namespace, ours_v: str, gai_v: str, elapsed: float) -> str:
    """The results file: machine info, method, table and notes."""
    lines = ["# luigi-guild vs guildai %s" % GUILDAI_VERSION, ""]
    lines += machine_info(ours_v, gai_v)
    lines.append("- command: `python benchmarks/run.py %s` (%.0f s)" % (
        " ".join(a for a in (argv_summary(args),) if a), elapsed))
    lines += ["", markdown_table(bench.rows), "", "Method:", ""]
    lines += [
        "- Homes of N completed `echo.py` runs in Guild 0.9's layout (`benchmarks/homes.py`); each tool gets "
        "its own fresh copy, so every figure starts from the same state for both.",
        "- *cold* = first call on that fresh copy (no tool caches; OS file cache warm from the copy). "
        "The median is over %d warm calls after it, alternating the tools in each repetition; warm calls "
        "may use each tool's own caches." % args.repeat,
        "- Ratios: `guildai / ours` (\"x faster\"), or `ours / bare python` for the full run.",
        "- Both tools run from byte-compiled modules: pip compiled guildai's at install; the script runs "
        "`compileall` on ours first (an editable install never does).",
        "- Peak MiB: `ru_maxrss` from `os.wait4` (largest process of the command's tree).",
        "- Env for both tools: " + " ".join("`%s=%s`" % kv for kv in BENCH_ENV.items()) + ", cwd = `benchmarks/project`.",
    ]
    if bench.notes:
        lines += ["", "Notes:", ""] + ["- " + n for n in bench.notes]
    return "\n".join(lines) + "\n"


def argv_summary(args: argparse.Namespace) -> str:
    parts = []
    if args.quick:
        parts.append("--quick")
    parts.append("--sizes %s" % ",".join(map(str, args.sizes)))
    parts.append("--repeat %d" % args.repeat)
    return " ".join(parts)


if __name__ == "__main__":
    sys.exit(main())
