"""Sweeps: grid, random search, batch files, failures, --needed resume after a real signal."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest

from luigi_guild.sweeps import trials as triallib
from luigi_guild.model.errors import GuildError
from pipelines_fixtures import guild, guild_env, project, runs, trial_runs

SWEEP = project("sweep")
TRIAL_RE = re.compile(r"^INFO: \[guild\] Running trial ([0-9a-f]{32}): (\S+) \((.*)\)$")


def trial_lines(out: str) -> list[tuple[str, str, str]]:
    return [m.groups() for m in map(TRIAL_RE.match, out.splitlines()) if m]


def test_grid_3x2_order_output_and_batch_trashed(tmp_path):
    home = tmp_path / "home"
    r = guild(home, "run", "echo", "x=[1,2,3]", "z=[a,b]", "-y", cwd=SWEEP)
    assert r.rc == 0, r.out
    lines = trial_lines(r.out)
    assert [(op, desc) for _id, op, desc in lines] == [
        ("toy:echo", "sleep=0.0, x=%d, y=0.5, z=%s" % (x, z)) for x in (1, 2, 3) for z in ("a", "b")
    ]
    assert "x=2 y=0.5 z='b'" in r.out.splitlines()
    trials = trial_runs(home, "toy:echo")
    assert sorted(t.id for t in trials) == sorted(i for i, _op, _d in lines)
    assert all(t.status == "completed" for t in trials)
    assert len(runs(home)) == 6  # the batch run went to the trash
    trash = os.listdir(home / "trash" / "runs")
    assert len(trash) == 1
    from luigi_guild.store.rundir import Run

    batch = Run(trash[0], str(home / "trash" / "runs" / trash[0]))
    assert batch.op_name == "toy:echo+" and batch.status == "completed"
    assert open(batch.guild_path("opref")).read().startswith("builtin:guildai ")
    assert sorted(n for n in os.listdir(batch.path) if not n.startswith(".")) == sorted(t.id for t in trials)


def test_keep_batch_and_batch_file(tmp_path):
    home = tmp_path / "home"
    (tmp_path / "trials.csv").write_text("x,z\n5,a\n6,c\n")
    (tmp_path / "trials.yaml").write_text("- {x: 7}\n")
    r = guild(home, "run", "echo", "@%s" % (tmp_path / "trials.csv"), "@%s" % (tmp_path / "trials.yaml"), "--keep-batch", "-y", cwd=SWEEP)
    assert r.rc == 0, r.out
    assert [d for _i, _o, d in trial_lines(r.out)] == [
        "sleep=0.0, x=5, y=0.5, z=a",
        "sleep=0.0, x=6, y=0.5, z=c",
        "sleep=0.0, x=7, y=0.5, z=a",
    ]
    assert [x.op_name for x in runs(home)].count("toy:echo+") == 1
    r = guild(home, "run", "echo", "@%s" % (tmp_path / "missing.csv"), "-y", cwd=SWEEP)
    assert r.rc == 1 and r.out.startswith("guild: cannot read batch file ")
    (tmp_path / "bad.csv").write_text("x\nq\n")
    r = guild(home, "run", "echo", "z=[a,d]", "-y", cwd=SWEEP)
    assert (r.rc, r.out) == (1, "guild: invalid value d for z: allowed values are a, b, c\n")


def test_random_search_fixed_seed_repeats(tmp_path):
    args = ["run", "echo", "x=[1:100]", "y=loguniform[0.001:1]", "z=[a,b,c]", "-o", "random", "-m", "4", "--random-seed", "42", "-y"]
    first = [d for _i, _o, d in trial_lines(guild(tmp_path / "h1", *args, cwd=SWEEP).out)]
    second = [d for _i, _o, d in trial_lines(guild(tmp_path / "h2", *args, cwd=SWEEP).out)]
    assert len(first) == 4 and first == second
    other = [d for _i, _o, d in trial_lines(guild(tmp_path / "h3", *args[:-2], "43", "-y", cwd=SWEEP).out)]
    assert other != first
    for t in trial_runs(tmp_path / "h1", "toy:echo"):
        assert isinstance(t.flags["x"], int) and 1 <= t.flags["x"] <= 100
        assert 0.001 <= t.flags["y"] <= 1 and t.flags["z"] in "abc"


def test_random_trials_unit():
    a = triallib.random_trials({"x": "[0:1]", "n": "[1:3]", "k": 5}, 50, seed=1)
    assert a == triallib.random_trials({"x": "[0:1]", "n": "[1:3]", "k": 5}, 50, seed=1)
    assert all(0 <= t["x"] <= 1 and t["n"] in (1, 2, 3) and t["k"] == 5 for t in a)
    assert {t["n"] for t in a} == {1, 2, 3}
    with pytest.raises(GuildError, match="unsupported flag function 'normal'"):
        triallib.random_trials({"x": "normal[0:1]"}, 1, seed=1)
    with pytest.raises(GuildError, match="greater than 0"):
        triallib.random_trials({"x": "loguniform[0:1]"}, 1, seed=1)
    assert triallib.grid({"b": [1, 2], "a": ["x", "y"], "c": 0}) == [
        {"a": "x", "b": 1, "c": 0},
        {"a": "x", "b": 2, "c": 0},
        {"a": "y", "b": 1, "c": 0},
        {"a": "y", "b": 2, "c": 0},
    ]


def test_failing_trial_others_go_on_then_needed_reruns_only_failed(tmp_path):
    home = tmp_path / "home"
    r = guild(home, "run", "echo", "x=[1,2,3]", "-y", cwd=SWEEP, FAIL_X="2")
    # As Guild: a failed trial is logged, the others go on, and the batch succeeds.
    assert r.rc == 0, r.out
    failed = [t for t in trial_runs(home, "toy:echo") if t.status == "error"]
    assert len(failed) == 1
    assert "ERROR: [guild] Trial %s exited with an error (1) - see log for details" % failed[0].id in r.out
    assert "trial failed for x=2" in r.out
    assert len(trial_lines(r.out)) == 3
    statuses = sorted((t.flags["x"], t.status) for t in trial_runs(home, "toy:echo"))
    assert statuses == [(1, "completed"), (2, "error"), (3, "completed")]
    assert [x for x in runs(home) if x.op_name == "toy:echo+"] == []  # it succeeded: not kept
    r = guild(home, "run", "echo", "x=[1,2,3]", "--needed", "-y", cwd=SWEEP)
    assert r.rc == 0, r.out
    assert [d for _i, _o, d in trial_lines(r.out)] == ["sleep=0.0, x=2, y=0.5, z=a"]
    assert r.out.count("a matching run exists (--needed specified)") == 2


def test_fail_on_trial_error_stops(tmp_path):
    home = tmp_path / "home"
    r = guild(home, "run", "echo", "x=[1,2,3]", "--fail-on-trial-error", "-y", cwd=SWEEP, FAIL_X="1")
    assert r.rc == 1  # the failed trial's exit code
    assert len(trial_lines(r.out)) == 1
    assert r.out.splitlines()[-1] == (
        "ERROR: [guild] Stopping batch because a trial failed (pending trials can be started as needed)")
    assert len(trial_runs(home, "toy:echo")) == 1
    assert [(x.status, x.get("exit_status")) for x in runs(home) if x.op_name == "toy:echo+"] == [("error", 1)]


def test_interrupted_sweep_resumes_with_needed(tmp_path):
    home = tmp_path / "home"
    proc = subprocess.Popen(
        [sys.executable, "-m", "luigi_guild", "run", "echo", "x=[1,2,3,4,5]", "sleep=0.6", "--needed", "-y"],
        cwd=SWEEP,
        env=guild_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        trials = trial_runs(home, "toy:echo")
        if sum(t.status == "completed" for t in trials) == 2 and any(t.status == "running" for t in trials):
            break
        time.sleep(0.05)
    else:
        proc.kill()
        pytest.fail("sweep did not reach its third trial")
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, out
    done = sorted((t.flags["x"], t.status) for t in trial_runs(home, "toy:echo"))
    assert done == [(1, "completed"), (2, "completed"), (3, "terminated")]
    # The interrupted batch is kept (terminated): as under Guild, it matches the same sweep with
    # --needed, which is skipped as a whole.
    r = guild(home, "run", "echo", "x=[1,2,3,4,5]", "sleep=0.6", "--needed", "-y", cwd=SWEEP)
    assert r.rc == 0, r.out
    lines = r.out.splitlines()
    assert lines[0] == "Skipping because the following runs match this operation (--needed specified):", r.out
    assert "toy:echo+" in lines[1] and "terminated" in lines[1], r.out
    assert len(trial_runs(home, "toy:echo")) == 3
    # Without that batch, the sweep resumes trial by trial.
    batch = [n for n in os.listdir(home / "runs") if os.path.isdir(home / "runs" / n / ".guild" / "proto")]
    assert len(batch) == 1
    assert guild(home, "runs", "delete", "-y", batch[0], cwd=SWEEP).rc == 0
    r = guild(home, "run", "echo", "x=[1,2,3,4,5]", "sleep=0.6", "--needed", "-y", cwd=SWEEP)
    assert r.rc == 0, r.out
    assert [d.split(", ")[1] for _i, _o, d in trial_lines(r.out)] == ["x=4", "x=5"]
    assert len(trial_runs(home, "toy:echo")) == 5


def test_workers_run_trials_in_parallel(tmp_path):
    home = tmp_path / "home"
    r = guild(home, "run", "echo", "x=[1,2,3,4]", "sleep=0.5", "--workers", "2", "-y", cwd=SWEEP)
    assert r.rc == 0, r.out
    trials = trial_runs(home, "toy:echo")
    assert sorted(t.flags["x"] for t in trials) == [1, 2, 3, 4]
    spans = sorted((t.get("started"), t.get("stopped")) for t in trials)
    assert any(b[0] < a[1] for a, b in zip(spans, spans[1:])), "no two trials overlapped"


def test_sweep_bad_options(tmp_path):
    home = tmp_path / "home"
    r = guild(home, "run", "echo", "x=[1,2]", "-o", "no-such", "-y", cwd=SWEEP)
    assert r.rc == 1 and r.out.splitlines()[0] == "guild: unsupported optimizer 'no-such'"
    r = guild(home, "run", "echo", "x=[1,2]", "--workers", "0", "-y", cwd=SWEEP)
    assert (r.rc, r.out) == (1, "guild: invalid --workers 0: expected 1 or more\n")
    r = guild(home, "run", "echo", "x=[1,2]", "-y", "--scheduler-host", "127.0.0.1", "--scheduler-port", "1", cwd=SWEEP)
    assert r.rc == 1 and r.out.startswith("guild: cannot reach the central scheduler at 127.0.0.1:1: ")
    assert runs(home) == []


NOTE_RE = re.compile(r"^INFO: \[guild\] (Random start for optimization .*|Found \d+ previous trial\(s\) for use in optimization)$", re.M)


def test_learning_notes_count_earlier_trials_and_random_starts_come_first():
    from luigi_guild.sweeps import learners
    from luigi_guild.sweeps.optimizers import TrialResult

    # Guild's rule: random starts first even with earlier trials; "Found N" counts every completed
    # trial found, those without an objective or outside the space included (only the others are learned from).
    opt = learners.GaussianProcess([{"x": "[0.0:1.0]", "k": 3}], 3, 1, {"random-starts": 1})
    assert opt.add_previous([({"x": 0.5, "k": 3}, 0.2), ({"x": 0.1, "k": 3}, None), ({"x": 7.0, "k": 3}, 0.1)]) == 1
    first = opt.ask(1)
    assert opt.notes == ["Random start for optimization (1 of 1)"]
    opt.tell(first[0], TrialResult("completed", 0.3))
    opt.ask(1)
    assert opt.notes == ["Found 4 previous trial(s) for use in optimization"]
    # No objective to learn from: a random start, saying why.
    opt = learners.Forest([{"x": "[0.0:1.0]"}], 3, 1, {"random-starts": 0})
    opt.add_previous([({"x": 0.1}, None)])
    opt.ask(1)
    assert opt.notes == ["Random start for optimization (cannot find objective 'loss')"]
    opt = learners.Forest([{"x": "[0.0:1.0]"}], 3, 1, {"random-starts": 0})
    opt.ask(1)
    assert opt.notes == ["Random start for optimization (missing previous trials)"]


def test_restarted_learning_batch_runs_max_trials_again(tmp_path):
    home = tmp_path / "home"
    opt = project("optimize")
    args = ("run", "quad.py", "x=[-5.0:5.0]", "y=[-5.0:5.0]", "-o", "forest", "-m", "3", "-Fo", "random-starts=2",
            "--random-seed", "7", "-y", "-q")
    r = guild(home, *args, cwd=opt)
    assert r.rc == 0, r.out
    batch = next(b for b in runs(home) if b.op_name == "quad.py+skopt:forest")
    r = guild(home, "run", "--restart", batch.id, "-y", cwd=opt)
    assert r.rc == 0, r.out
    assert NOTE_RE.findall(r.out) == [
        "Random start for optimization (1 of 2)",
        "Random start for optimization (2 of 2)",
        "Found 5 previous trial(s) for use in optimization",
    ]
    # The batch's seed draws the same random starts again; the model's trial is a new one.
    flags = {t.id: t.flags for t in trial_runs(home, "quad.py")}
    restarted = [flags[i] for i, _o, _d in trial_lines(r.out)]
    first = [t.flags for t in reversed(trial_runs(home, "quad.py"))][:3]
    assert restarted[:2] == first[:2] and restarted[2] != first[2]
    linked = [n for n in os.listdir(batch.path) if not n.startswith(".")]
    assert len(linked) == 6 and len(trial_runs(home, "quad.py")) == 6
    # A new seed, new random starts; -m gives the number of trials of this run.
    r = guild(home, "run", "--restart", batch.id, "-m", "1", "--random-seed", "8", "-y", cwd=opt)
    assert r.rc == 0, r.out
    assert NOTE_RE.findall(r.out) == ["Random start for optimization (1 of 1)"]
    (new_id, _o, _d), = trial_lines(r.out)
    assert {t.id: t.flags for t in trial_runs(home, "quad.py")}[new_id] not in first + restarted
    assert batch.get("max_trials") == 1 and batch.get("random_seed") == 8


@pytest.mark.parametrize("name", ["tpe", "cmaes"])
def test_optuna_samplers_do_not_repeat_the_random_starts(name):
    from luigi_guild.sweeps import learners
    from luigi_guild.sweeps.optimizers import TrialResult

    # Two workers: the model is asked while a random start still runs (one result told of two).
    cls = learners.learner_class(name)
    assert cls is not None
    opt = cls([{"x": "[0.0:100.0]"}], 3, 5, {"random-starts": 2})
    starts = opt.ask(2)
    opt.tell(starts[0], TrialResult("completed", 1.0))
    (third,) = opt.ask(1)
    assert opt.notes == ["Found 1 previous trial(s) for use in optimization"]
    assert third not in starts, (third, starts)
