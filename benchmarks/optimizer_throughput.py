"""Sweep throughput: N trivial trials with ``--workers 2``, grid and an optimizer that learns, vs the floor.

The floor is N x the bare script's own run time (``python trial.py``) / 2 workers. Prints medians
and ratios. Usage: ``python benchmarks/optimizer_throughput.py [--trials 1000] [--repeat 3]
[--optimizer tpe]`` (cwd anywhere; uses the ``guild`` next to the running Python).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

TRIVIAL = "x = 0\nprint('loss: %s' % x)\n"  # the trivial trial: one flag, one scalar


def _timed(cmd: list[str], env: dict[str, str], cwd: str) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--optimizer", default="tpe")
    args = ap.parse_args()
    guild = os.path.join(os.path.dirname(sys.executable), "guild")
    env = dict(os.environ, NO_VCS_COMMIT="1")
    # Measure luigi_guild as installed: pip compiles bytecode at install time, while an editable
    # checkout under PYTHONDONTWRITEBYTECODE=1 would compile op_main again in every trial.
    import compileall

    import luigi_guild

    compileall.compile_dir(os.path.dirname(luigi_guild.__file__), quiet=1)
    project = tempfile.mkdtemp(prefix="bench-project-")
    with open(os.path.join(project, "trial.py"), "w") as f:
        f.write(TRIVIAL)
    bare = statistics.median(_timed([sys.executable, "trial.py"], env, project) for _ in range(max(5, args.repeat)))
    floor = args.trials * bare / 2
    grid = "x=[%s]" % ",".join(str(i) for i in range(args.trials))
    cases = {
        "grid": [guild, "run", "trial.py", grid, "--workers", "2", "-q", "-y"],
        args.optimizer: [guild, "run", "trial.py", "x=[0:%d]" % (10 * args.trials), "-o", args.optimizer,
                         "-m", str(args.trials), "--workers", "2", "-q", "-y"],
    }
    print("bare trial.py: %.3f s; floor for %d trials / 2 workers: %.1f s" % (bare, args.trials, floor))
    for name, cmd in cases.items():
        times = []
        for _ in range(args.repeat):
            home = tempfile.mkdtemp(prefix="bench-home-")
            try:
                times.append(_timed(cmd, dict(env, GUILD_HOME=home), project))
            finally:
                shutil.rmtree(home, ignore_errors=True)
        med = statistics.median(times)
        print("%-8s %d trials --workers 2: median %.1f s = %.2fx floor" % (name, args.trials, med, med / floor))
    shutil.rmtree(project, ignore_errors=True)


if __name__ == "__main__":
    main()
