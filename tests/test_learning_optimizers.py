"""Optimizers that learn: gp, forest and gbrt beat random search; objectives, guild.yml optimizers, messages."""

from __future__ import annotations

import re

from pipelines_fixtures import guild, project, runs

OPT = project("optimize")
SPACE = ("x=[-5.0:5.0]", "y=[-5.0:5.0]")
NOTE_RE = re.compile(r"^INFO: \[guild\] (Random start for optimization .*|Found \d+ previous trial\(s\) for use in optimization)$", re.M)


def _losses(home) -> list[float]:
    from luigi_guild.sweeps.objective import Objective, read_value

    vals = [read_value(r, Objective()) for r in runs(home) if r.op_name == "quad.py"]
    return [v for v in vals if v is not None]


def test_gp_forest_gbrt_learn_and_beat_random(tmp_path):
    best = {}
    for name in ("random", "gp", "forest", "gbrt"):
        home = tmp_path / name
        r = guild(home, "run", "quad.py", *SPACE, "-o", name, "-m", "20", "--random-seed", "1", "-q", "-y", cwd=OPT,
                  timeout=300)
        assert r.rc == 0, r.out
        losses = _losses(home)
        assert len(losses) == 20, (name, len(losses))
        best[name] = min(losses)
    assert all(best[name] <= 0.1 for name in ("gp", "forest", "gbrt")), best
    assert all(best[name] < best["random"] for name in ("gp", "forest", "gbrt")), best


def test_gp_random_starts_then_model_batch_kept_with_optimizer_flags(tmp_path):
    home = tmp_path / "home"
    r = guild(home, "run", "quad.py", *SPACE, "-o", "gp", "-m", "5", "--random-seed", "3", "-y", cwd=OPT)
    assert r.rc == 0, r.out
    assert NOTE_RE.findall(r.out) == [
        "Random start for optimization (1 of 3)",
        "Random start for optimization (2 of 3)",
        "Random start for optimization (3 of 3)",
        "Found 3 previous trial(s) for use in optimization",
        "Found 4 previous trial(s) for use in optimization",
    ]
    batches = [b for b in runs(home) if b.op_name == "quad.py+skopt:gp"]
    assert len(batches) == 1 and batches[0].status == "completed"
    batch = batches[0]
    assert batch.label == "acq-func=gp_hedge kappa=1.96 noise=gaussian prev-trials=batch random-starts=3 xi=0.05"
    assert (batch.get("objective"), batch.get("max_trials"), batch.get("random_seed")) == ("loss", 5, 3)
    # The same seed asks for the same trials.
    again = tmp_path / "again"
    r2 = guild(again, "run", "quad.py", *SPACE, "-o", "bayesian", "-m", "5", "--random-seed", "3", "-y", cwd=OPT)
    assert r2.rc == 0, r2.out
    trials = lambda out: re.findall(r"Running trial \w+: (.*)$", out, re.M)  # noqa: E731
    assert trials(r2.out) == trials(r.out)


def test_guildfile_default_optimizer_objective_and_flag_encoding(tmp_path):
    home = tmp_path / "home"
    r = guild(home, "run", "peak", *SPACE, "-O", "-m", "5", "--random-seed", "2", "-Fo", "xi=0.1", "-y", cwd=OPT)
    assert r.rc == 0, r.out
    notes = NOTE_RE.findall(r.out)
    assert notes[3] == "Random start for optimization (4 of 4)" and notes[4].startswith("Found 4 previous")
    batch = [b for b in runs(home) if b.op_name == "peak+skopt:gp"][0]
    assert batch.get("objective") == "-score"
    assert batch.flags == {"acq-func": "gp_hedge", "kappa": 1.5, "noise": "gaussian", "prev-trials": "batch",
                           "random-starts": 4, "xi": 0.1}
    # -o names one of the operation's optimizers; --maximize overrides guild.yml's objective.
    r = guild(home, "run", "peak", *SPACE, "-o", "trees", "-m", "1", "--minimize", "loss", "-y", cwd=OPT)
    assert r.rc == 0, r.out
    assert [b.get("objective") for b in runs(home) if b.op_name == "peak+skopt:forest"] == ["loss"]
    # Flags with min and max are search dimensions starting at their value.
    r = guild(home, "run", "bowl", "-O", "-m", "1", "-y", cwd=OPT)
    assert r.rc == 0, r.out
    assert "Running trial" in r.out and "bowl (x=0.0, y=0.0)" in r.out


def test_previous_trials_of_the_operation_are_reused(tmp_path):
    home = tmp_path / "home"
    r = guild(home, "run", "quad.py", *SPACE, "-o", "forest", "-m", "3", "--random-seed", "1", "-y", "-q", cwd=OPT)
    assert r.rc == 0, r.out
    # As in Guild, a new sweep draws its random starts first, then counts the earlier runs with its own.
    r = guild(home, "run", "quad.py", *SPACE, "-o", "forest", "-m", "3", "-Fo", "random-starts=2", "-Fo", "prev-trials=operation",
              "-y", "-q", cwd=OPT)
    assert r.rc == 0, r.out
    assert NOTE_RE.findall(r.out) == [
        "Random start for optimization (1 of 2)",
        "Random start for optimization (2 of 2)",
        "Found 5 previous trial(s) for use in optimization",
    ]
    r = guild(home, "run", "quad.py", *SPACE, "-o", "forest", "-m", "1", "-Fo", "random-starts=0", "-Fo", "prev-trials=operation",
              "-y", "-q", cwd=OPT)
    assert r.rc == 0, r.out
    assert NOTE_RE.findall(r.out) == ["Found 6 previous trial(s) for use in optimization"]


def test_optimizer_bad_input_is_one_line_and_makes_nothing(tmp_path):
    home = tmp_path / "home"
    cases = [
        (("quad.py", "x=1", "-o", "gp"), "guild: flags for batch (x=1, y=0.0) do not contain any search dimensions"),
        (("quad.py", *SPACE, "-o", "gp", "-Fo", "nope=1"), "guild: unsupported flag 'nope' for optimizer gp"),
        (("quad.py", *SPACE, "-o", "gp", "-Fo", "kappa=high"), "guild: invalid value high for optimizer flag kappa"),
        (("quad.py", "x=[1,2]", "-Fo", "kappa=3"), "guild: invalid optimizer flag kappa=3: no optimizer specified"),
        (("quad.py", "x=1", "-Fo", "kappa=3"), "guild: invalid optimizer flag kappa=3: no optimizer specified"),
        (("quad.py", *SPACE, "-O", "-o", "gp"), "guild: --optimize and --optimizer cannot both be used"),
        (("quad.py", *SPACE, "-o", "gp", "--stage-trials"), "guild: operation 'skopt:gp' does not support --stage-trials"),
        (("quad.py", *SPACE, "-o", "gp", "--print-trials"), "guild: optimizer does not support printing trials"),
        (("quad.py", "x=uniform[1:0]", "-o", "gp"),
         "guild: invalid function args in 'x=uniform[1:0]': the lower bound 1 has to be less than the upper bound 0"),
        (("quad.py", *SPACE, "-o", "gp", "--minimize", "loss", "--maximize", "score"),
         "guild: --minimize and --maximize cannot both be used"),
        (("quad.py", *SPACE, "-o", "nelder-mead"), "guild: unsupported optimizer 'nelder-mead'"),
        (("quad.py", "x=[1:2:3:4]", "-o", "gp"),
         "guild: invalid function args in 'x=[1:2:3:4]': the initial value 3:4 is not a number"),
        (("quad.py", "x=[1:]", "-o", "forest"), "guild: invalid flag function [1:]: '' is not a number"),
        (("quad.py", *SPACE, "-o", "gbrt", "-m", "0"), "guild: invalid --max-trials 0: expected a positive number"),
        (("quad.py", *SPACE, "-o", "gp", "-Fo", "prev-trials=all"), "guild: invalid value all for optimizer flag prev-trials"),
    ]
    for args, first in cases:
        r = guild(home, "run", *args, "-y", cwd=OPT)
        assert r.rc == 1 and r.out.splitlines()[0] == first, (args, r.out)
        assert "Traceback" not in r.out
    assert runs(home) == []


def test_objective_never_written_stops_after_the_first_trial(tmp_path):
    home = tmp_path / "home"
    r = guild(home, "run", "silent", "x=[0:1]", "-o", "gp", "-y", cwd=OPT)
    assert r.rc == 1
    lines = r.out.splitlines()
    assert re.match(r"guild: trial \w{32} did not log the objective 'loss'$", lines[-2]), r.out
    assert [r.op_name for r in runs(home)] == ["silent", "silent+skopt:gp"]
    assert [r.status for r in runs(home)] == ["completed", "error"]


def test_luigi_optimize_task_result_is_the_best_run(tmp_path, monkeypatch):
    import luigi

    from luigi_guild.sweeps.objective import Objective, read_value
    from luigi_guild.tasks.sweep import OptimizeTask

    monkeypatch.setenv("GUILD_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SYNC_RUN_OUTPUT", "1")
    task = OptimizeTask(operation="quad.py", flags={"x": "[-5.0:5.0]", "y": "[-5.0:5.0]"}, project_dir=OPT,
                        optimizer="gp", max_trials=6, random_seed=1, objective="-score")
    assert not task.complete() and task.best_run() is None
    assert luigi.build([task], local_scheduler=True, log_level="WARNING")
    assert task.complete()
    trials = [r for r in runs(tmp_path / "home") if r.op_name == "quad.py"]
    assert len(trials) == 6
    scores = {r.id: read_value(r, Objective("score")) for r in trials}
    best = task.best_run()
    assert best is not None and scores[best.id] == max(scores.values())
    # A second build finds the batch and runs nothing more.
    assert luigi.build([OptimizeTask(operation="quad.py", flags={"x": "[-5.0:5.0]", "y": "[-5.0:5.0]"}, project_dir=OPT,
                                     optimizer="gp", max_trials=6, random_seed=1, objective="-score")],
                       local_scheduler=True, log_level="WARNING")
    assert len([r for r in runs(tmp_path / "home") if r.op_name == "quad.py"]) == 6
