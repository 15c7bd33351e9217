"""Results in Luigi pipelines: scalars from targets, and depending on the best run of an operation."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

PROJECT = os.path.join(os.path.dirname(__file__), "samples", "projects", "results")
GUILD = os.path.join(os.path.dirname(sys.executable), "guild")


def _guild(home, *args):
    env = {**os.environ, "GUILD_HOME": str(home)}
    return subprocess.run([GUILD, *args], cwd=PROJECT, env=env, capture_output=True, text=True)


SCRIPT = textwrap.dedent(
    """
    import sys
    import luigi
    from luigi_guild.tasks import BestRunTask, OperationTask

    P, column, maximize = sys.argv[1], sys.argv[2], sys.argv[3] == "max"

    class Evaluate(OperationTask):
        def requires(self):
            return BestRunTask(operation="train", column=column, maximize=maximize, project_dir=P)

    best = BestRunTask(operation="train", column=column, maximize=maximize, project_dir=P).output()
    print("best", best.latest().id if best.exists() else None, best.value(), best.scalar("loss", "min"))
    task = Evaluate.of("evaluate.py", {}, project_dir=P, needed=False)
    ok = luigi.build([task], local_scheduler=True, log_level="ERROR")
    print("ok" if ok else "failed")
    if ok:
        print("needed", sorted(task.output().scalars()))
    """
)


def _build(tmp_path, home, column, direction):
    script = tmp_path / "build.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "GUILD_HOME": str(home)}
    return subprocess.run(
        [sys.executable, str(script), PROJECT, column, direction], env=env, capture_output=True, text=True, cwd=PROJECT
    )


def test_downstream_gets_the_best_run_by_a_scalar(tmp_path):
    home = tmp_path / "home"
    for x, rid in (("2", "hi"), ("0.5", "lo"), ("1.5", "mid")):
        assert _guild(home, "run", "train", "x=" + x, "--run-id", rid, "-y", "-q").returncode == 0
    r = _build(tmp_path, home, "loss", "min")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "best lo 0.16666699945926666 0.16666699945926666"
    assert "evaluating model x=0.5" in lines
    assert lines[-2:] == ["ok", "needed []"]  # evaluate prints no scalars
    evaluate = _guild(home, "select", "-Fo", "evaluate.py", "-p").stdout.strip()
    placed = os.path.join(evaluate, "model.txt")  # a copy of the chosen run's file
    assert not os.path.islink(placed)
    with open(placed) as got, open(os.path.join(str(home), "runs", "lo", "model.txt")) as want:
        assert got.read() == want.read()

    r = _build(tmp_path, home, "min loss", "max")
    assert r.stdout.splitlines()[0] == "best hi 0.6666669845581055 0.6666669845581055"
    assert "evaluating model x=2" in r.stdout

    r = _build(tmp_path, home, "=x", "max")  # flags work as columns too
    assert r.stdout.splitlines()[0] == "best hi 2 0.6666669845581055"


def test_no_run_with_the_scalar_fails_the_build(tmp_path):
    home = tmp_path / "home"
    assert _guild(home, "run", "nocapture", "--run-id", "n1", "-y", "-q").returncode == 0
    r = _build(tmp_path, home, "loss", "min")
    assert r.stdout.splitlines() == ["best None None None", "failed"]
    assert _guild(home, "select", "-Fo", "evaluate.py").returncode != 0
