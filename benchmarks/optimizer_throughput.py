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


_cpu: list[float] = []  # CPU seconds (user + system) of the last command and every process it waited for


def _timed(cmd: list[str], env: dict[str, str], cwd: str) -> float:
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    elapsed = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    _cpu[:] = [after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime]
    return elapsed


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
    bare_runs = []
    bare_cpu = []
    for _ in range(max(5, args.repeat)):
        bare_runs.append(_timed([sys.executable, "trial.py"], env, project))
        bare_cpu.append(_cpu[0])
    bare = statistics.median(bare_runs)
    bare_cpu_med = statistics.median(bare_cpu)
    floor = args.trials * bare / 2
    grid = "x=[%s]" % ",".join(str(i) for i in range(args.trials))
    cases = {
        "grid": [guild, "run", "trial.py", grid, "--workers", "2", "-q", "-y"],
        args.optimizer: [guild, "run", "trial.py", "x=[0:%d]" % (10 * args.trials), "-o", args.optimizer,
                         "-m", str(args.trials), "--workers", "2", "-q", "-y"],
    }
    print("bare trial.py: %.3f s (%.1f ms CPU); floor for %d trials / 2 workers: %.1f s"
          % (bare, 1000 * bare_cpu_med, args.trials, floor))
    for name, cmd in cases.items():
        times = []
        cpus = []
        for _ in range(args.repeat):
            home = tempfile.mkdtemp(prefix="bench-home-")
            try:
                times.append(_timed(cmd, dict(env, GUILD_HOME=home), project))
                cpus.append(_cpu[0])
            finally:
                shutil.rmtree(home, ignore_errors=True)
        med = statistics.median(times)
        # CPU per trial (guild run, launcher, trials) against the bare script's: less sensitive to other load.
        cpu = statistics.median(cpus) / args.trials
        print("%-8s %d trials --workers 2: median %.1f s = %.2fx floor; CPU %.1f ms/trial = %.2fx the bare script's"
              % (name, args.trials, med, med / floor, 1000 * cpu, cpu / bare_cpu_med))
    shutil.rmtree(project, ignore_errors=True)


if __name__ == "__main__":
    main()
