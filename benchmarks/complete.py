#!/usr/bin/env python3
"""Cost of ``complete()`` in a Luigi build whose runs all exist, against plain Luigi tasks.

Usage: ``python benchmarks/complete.py [--tasks 3000] [--repeat 3] [--home PATH]``

A Guild home with N completed ``echo.py`` runs (``homes.py``, Guild 0.9's
layout) is generated in a temporary directory. Each repetition starts a
fresh Python process (no caches carried over) that builds N tasks with
``luigi.build(..., local_scheduler=True)``:

* ``ours``: ``OperationTask.of("echo.py", {"x": i + 1.0})``, one per existing
  run, so every task is complete;
* ``typed``: the same through a typed task class (``operation = "echo.py"``,
  ``x = luigi.FloatParameter()``);
* ``plain``: plain ``luigi.Task`` subclasses whose ``output()`` is a
  ``LocalTarget`` on an existing file.

One untimed ``ours`` process first writes the home's run index (as any
``guild`` command in that home would have). Reported per mode: the median wall and CPU time per task of construct +
build, and of a second pass of ``complete()`` over the built tasks (the
per-process caches warm), then the ratios to ``plain``. The CPU figures are
steadier when other work shares the machine. The goal (issue 12): within 2x
of ``plain`` per task for the build.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import homes  # noqa: E402

CHILD = r"""
import json, os, sys, time
import luigi

mode, n, data_dir = sys.argv[1], int(sys.argv[2]), sys.argv[3]
t0, c0 = time.perf_counter(), time.process_time()
if mode == "plain":
    class Plain(luigi.Task):
        i = luigi.IntParameter()
        def output(self):
            return luigi.LocalTarget(os.path.join(data_dir, "%d.txt" % self.i))
    tasks = [Plain(i=i) for i in range(n)]
else:
    from luigi_guild.tasks import OperationTask
    if mode == "ours":
        tasks = [OperationTask.of("echo.py", {"x": i + 1.0}, project_dir=data_dir) for i in range(n)]
    else:
        class Echo(OperationTask):
            operation = "echo.py"
            project_dir = data_dir
            x = luigi.FloatParameter()
        tasks = [Echo(x=i + 1.0) for i in range(n)]
ok = luigi.build(tasks, local_scheduler=True, log_level="WARNING")
t1, c1 = time.perf_counter(), time.process_time()
assert ok and all(t.complete() for t in tasks)
t2, c2 = time.perf_counter(), time.process_time()
assert all(t.complete() for t in tasks)
t3, c3 = time.perf_counter(), time.process_time()
print(json.dumps({"build": (t1 - t0) / n, "complete": (t3 - t2) / n, "build_cpu": (c1 - c0) / n,
                  "complete_cpu": (c3 - c2) / n}))
"""


def run_mode(mode: str, n: int, data_dir: str, home: str) -> dict[str, float]:
    env = dict(os.environ, GUILD_HOME=home)
    out = subprocess.run([sys.executable, "-c", CHILD, mode, str(n), data_dir], env=env, capture_output=True,
                         text=True, check=False)
    if out.returncode != 0:
        raise SystemExit("%s failed:\n%s" % (mode, out.stderr))
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tasks", type=int, default=3000)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--home", help="reuse this Guild home (generated there when missing)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = args.home or os.path.join(tmp, "home")
        if not os.path.isdir(os.path.join(home, "runs")):
            homes.generate_home(home, args.tasks, project_dir=homes.PROJECT_DIR)
        plain_dir = os.path.join(tmp, "plain")
        os.makedirs(plain_dir)
        for i in range(args.tasks):
            open(os.path.join(plain_dir, "%d.txt" % i), "w").close()
        dirs = {"plain": plain_dir, "ours": homes.PROJECT_DIR, "typed": homes.PROJECT_DIR}
        samples: dict[str, list[dict[str, float]]] = {m: [] for m in dirs}
        run_mode("ours", args.tasks, homes.PROJECT_DIR, home)  # warm-up: writes the run index, as any guild command would
        for _ in range(args.repeat):
            for mode, data_dir in dirs.items():
                samples[mode].append(run_mode(mode, args.tasks, data_dir, home))
    keys = ("build", "build_cpu", "complete", "complete_cpu")
    med = {m: {k: statistics.median(s[k] for s in samples[m]) for k in keys} for m in samples}
    print("%d tasks, all complete; median of %d fresh processes; per task, wall (CPU) in us:" % (args.tasks, args.repeat))
    print("%-6s %18s %18s %16s %16s" % ("mode", "build", "complete", "build ratio", "complete ratio"))
    for mode in ("plain", "ours", "typed"):
        m, p = med[mode], med["plain"]
        print("%-6s %8.1f (%7.1f) %8.1f (%7.1f) %6.2f (%6.2f) %6.2f (%6.2f)" % (
            mode, m["build"] * 1e6, m["build_cpu"] * 1e6, m["complete"] * 1e6, m["complete_cpu"] * 1e6,
            m["build"] / p["build"], m["build_cpu"] / p["build_cpu"],
            m["complete"] / p["complete"], m["complete_cpu"] / p["complete_cpu"]))

if __name__ == "__main__":
    main()
