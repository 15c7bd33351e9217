"""Sweep throughput: N trivial trials with ``--workers 2``, grid and one other optimizer, vs the floor.

The floor is N x the bare script's own run time (``python trial.py``) / 2 workers. Prints medians
and ratios, the CPU time per trial of all processes and of the ``guild run`` process alone (the
sweep's serial part). Usage: ``python benchmarks/optimizer_throughput.py [--trials 1000] [--repeat 3]
[--optimizer tpe|random|...]`` (cwd anywhere; runs luigi_guild as the running Python imports it).

The bare script is timed again before every sweep and the floor uses the median of all those
timings, so a slower or quicker spell of this shared VM moves the floor along with the sweeps.
Every sweep's Guild home is kept until all sweeps have run: on ext4 without a journal (this
machine's root file system) the kernel passes over every inode freed in the last five minutes
(while its inode table block is dirty) each time it makes a file in that block group, so deleting
one sweep's 25,000 files would slow the sweeps that follow it by a quarter or more. For the same reason the script waits, when it is started again, until five minutes have
passed since its last run deleted its homes (``--no-wait`` skips that); a test suite or anything
else deleting many files meanwhile slows it the same way.
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
FREED_RECENTLY = 300  # seconds: how long ext4 (no journal) passes over a freed inode whose table block is dirty


_cpu: list[float] = []  # CPU seconds (user + system) of the last command and every process it waited for

# ``guild`` run in a Python that records the guild process's own CPU time (all its threads, not its
# children) in the file named by $BENCH_OWN_CPU when it exits: the sweep's serial part.
OWN_CPU = """import atexit, os, resource, sys
def _own():
    r = resource.getrusage(resource.RUSAGE_SELF)
    with open(os.environ["BENCH_OWN_CPU"], "w") as f:
        f.write("%f" % (r.ru_utime + r.ru_stime))
atexit.register(_own)
from luigi_guild.entry import main
sys.argv[0] = "guild"
sys.exit(main())
"""


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
    ap.add_argument("--no-wait", action="store_true", help="do not wait for this script's last deletions to age")
    args = ap.parse_args()
    cleaned_at = os.path.join(tempfile.gettempdir(), "luigi-guild-throughput-cleanup")
    try:
        age = time.time() - os.path.getmtime(cleaned_at)
    except OSError:
        age = FREED_RECENTLY
    if age < FREED_RECENTLY and not args.no_wait:
        print("waiting %d s: the last run of this script deleted its homes %d s ago (see the docstring)"
              % (FREED_RECENTLY - age, age), flush=True)
        time.sleep(FREED_RECENTLY - age)
    guild = [sys.executable, "-c", OWN_CPU]
    env = dict(os.environ, NO_VCS_COMMIT="1")
    # Measure luigi_guild as installed: pip compiles bytecode at install time, while an editable
    # checkout under PYTHONDONTWRITEBYTECODE=1 would compile op_main again in every trial.
    import compileall

    import luigi_guild

    compileall.compile_dir(os.path.dirname(luigi_guild.__file__), quiet=1)
    project = tempfile.mkdtemp(prefix="bench-project-")
    with open(os.path.join(project, "trial.py"), "w") as f:
        f.write(TRIVIAL)
    bare_runs: list[float] = []
    bare_cpu: list[float] = []

    def time_bare(n: int) -> None:
        for _ in range(n):
            bare_runs.append(_timed([sys.executable, "trial.py"], env, project))
            bare_cpu.append(_cpu[0])

    time_bare(10)
    grid = "x=[%s]" % ",".join(str(i) for i in range(args.trials))
    cases = {
        "grid": [*guild, "run", "trial.py", grid, "--workers", "2", "-q", "-y"],
        args.optimizer: [*guild, "run", "trial.py", "x=[0:%d]" % (10 * args.trials), "-o", args.optimizer,
                         "-m", str(args.trials), "--workers", "2", "-q", "-y"],
    }
    homes = tempfile.mkdtemp(prefix="bench-homes-")
    results = {}
    try:
        for name, cmd in cases.items():
            times = []
            cpus = []
            own = []
            for _ in range(args.repeat):
                time_bare(5)
                home = tempfile.mkdtemp(dir=homes)
                own_file = os.path.join(home, "own-cpu")
                times.append(_timed(cmd, dict(env, GUILD_HOME=home, BENCH_OWN_CPU=own_file), project))
                cpus.append(_cpu[0])
                with open(own_file) as f:
                    own.append(float(f.read()))
            results[name] = (times, cpus, own, " ".join(open("/proc/loadavg").read().split()[:3]))
    finally:
        shutil.rmtree(homes, ignore_errors=True)
        with open(cleaned_at, "w"):
            pass
    bare = statistics.median(bare_runs)
    bare_cpu_med = statistics.median(bare_cpu)
    floor = args.trials * bare / 2
    print("bare trial.py: %.3f s (%.1f ms CPU; median of %d, %.3f-%.3f s); floor for %d trials / 2 workers: %.1f s"
          % (bare, 1000 * bare_cpu_med, len(bare_runs), min(bare_runs), max(bare_runs), args.trials, floor))
    for name, (times, cpus, own, load) in results.items():
        med = statistics.median(times)
        # CPU per trial (guild run, launcher, trials) against the bare script's: less sensitive to other load.
        cpu = statistics.median(cpus) / args.trials
        # The guild run process alone (start-up included): one process, so at most one core's worth.
        own_cpu = statistics.median(own) / args.trials
        print("%-8s %d trials --workers 2: median %.1f s = %.2fx floor (runs: %s); CPU %.1f ms/trial = %.2fx the"
              " bare script's; guild run's own CPU %.1f ms/trial (load average %s)"
              % (name, args.trials, med, med / floor, " ".join("%.2fx" % (t / floor) for t in times),
                 1000 * cpu, cpu / bare_cpu_med, 1000 * own_cpu, load))
    shutil.rmtree(project, ignore_errors=True)


if __name__ == "__main__":
    main()
