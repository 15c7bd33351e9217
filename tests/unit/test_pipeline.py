"""The run pipeline and its seams: outcomes, executors by name, statuses and exit codes, flag identity."""

from __future__ import annotations

import os
import time
from typing import Any

import pytest

from luigi_guild.model import exitcodes, flagid
from luigi_guild.model.errors import GuildError
from luigi_guild.model.opref import OpRef
from luigi_guild.model.outcome import OutcomeKind
from luigi_guild.model.status import Status
from luigi_guild.run import executors, pipeline
from luigi_guild.run.executors import DetachedExecutor, InlineExecutor, Job
from luigi_guild.run.pipeline import RunOptions
from luigi_guild.run.plan import RunPlan, plan_new
from luigi_guild.store import query
from luigi_guild.store.rundir import Run

SCRIPT = 'x = 1\ncode = 0\nimport sys, time\nprint("x is", x)\nsys.exit(code)\n'


@pytest.fixture
def project(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    home = tmp_path / "home"
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "op.py").write_text(SCRIPT)
    monkeypatch.setenv("GUILD_HOME", str(home))
    from luigi_guild.model import home as homelib

    monkeypatch.setattr(homelib, "_override", None)
    return str(proj)


def plan(project: str, **values: Any) -> RunPlan:
    return plan_new("op.py", cwd=project, values=values)


def test_finished_outcome_carries_the_run_and_its_exit_status(project: str) -> None:
    outcome = pipeline.execute(plan(project, x=2), RunOptions(echo=False))
    assert outcome.kind == OutcomeKind.FINISHED and outcome.ok and outcome.exit_code == 0
    assert outcome.run is not None and outcome.run.status == Status.COMPLETED
    with open(outcome.run.guild_path("output")) as f:
        assert f.read() == "x is 2\n"
    failed = pipeline.execute(plan(project, code=3), RunOptions(echo=False))
    assert (failed.ok, failed.exit_status, failed.exit_code) == (False, 3, 3)
    assert failed.run is not None and failed.run.status == Status.ERROR


def test_needed_skips_with_the_matching_runs_and_creates_nothing(project: str) -> None:
    first = pipeline.execute(plan(project, x=5), RunOptions(echo=False))
    before = sorted(os.listdir(os.path.dirname(first.run.path)))  # type: ignore[union-attr]
    skipped = pipeline.execute(plan(project, x=5.0), RunOptions(needed=True, echo=False))
    assert skipped.kind == OutcomeKind.SKIPPED and skipped.ok
    assert [r.id for r in skipped.matches] == [first.run.id]  # type: ignore[union-attr]
    assert sorted(os.listdir(os.path.dirname(first.run.path))) == before  # type: ignore[union-attr]


def test_hooks_run_at_their_points_in_order(project: str) -> None:
    seen: list[str] = []
    opts = RunOptions(
        echo=False,
        claim=True,
        already_done=lambda p: seen.append("already_done") or False,
        prepare=lambda p: seen.append("prepare"),
        on_created=lambda run, p: seen.append("created %s" % run.status),
        on_finished=lambda o: seen.append("finished %s" % o.exit_status),
    )
    pipeline.execute(plan(project), opts)
    assert seen == ["already_done", "prepare", "created pending", "finished 0"]


def test_already_done_skips_before_anything_is_created(project: str) -> None:
    outcome = pipeline.execute(plan(project), RunOptions(claim=True, already_done=lambda p: True))
    assert outcome.kind == OutcomeKind.SKIPPED and outcome.run is None
    assert query.list_runs() == []


def test_stage_then_restart_with_needed(project: str) -> None:
    staged = pipeline.execute(plan(project, x=7), RunOptions(stage=True))
    assert staged.kind == OutcomeKind.STAGED and staged.run is not None
    assert staged.run.status == Status.STAGED
    from luigi_guild.run.plan import plan_restart

    done = pipeline.execute(plan_restart(staged.run.id, {}), RunOptions(echo=False))
    assert done.kind == OutcomeKind.FINISHED and done.run is not None and done.run.id == staged.run.id
    again = pipeline.execute(plan_restart(staged.run.id, {}), RunOptions(needed=True))
    assert again.kind == OutcomeKind.UNCHANGED


def test_executors_by_name(project: str) -> None:
    assert {"inline", "detached"} <= set(executors.names())
    assert executors.executor_class("inline") is InlineExecutor
    with pytest.raises(GuildError, match="unknown executor 'nope'"):
        executors.executor_class("nope")
    jobs = [Job(plan(project, x=i), RunOptions(echo=False)) for i in (1, 2)]
    outcomes = InlineExecutor().execute(jobs)
    assert [o.exit_status for o in outcomes] == [0, 0]
    assert sorted(r.flags["x"] for r in query.list_runs()) == [1, 2]


def test_inline_executor_stops_when_asked(project: str) -> None:
    jobs = [Job(plan(project, x=i), RunOptions(echo=False)) for i in range(3)]
    done: list[int] = []
    executor = InlineExecutor(stop=lambda: len(done) >= 1)
    for job in jobs:
        job.opts.on_finished = lambda o: done.append(1)
    assert len(executor.execute(jobs)) == 1


def test_detached_executor_returns_while_the_run_goes_on(project: str) -> None:
    slow = os.path.join(project, "op.py")
    with open(slow, "w") as f:
        f.write("import time\ntime.sleep(1.5)\nprint('slept')\n")
    [outcome] = DetachedExecutor().execute([Job(plan(project), RunOptions())])
    assert outcome.kind == OutcomeKind.STARTED and outcome.run is not None
    run = Run.for_dir(outcome.run.path)
    assert run.status == Status.RUNNING
    # Until the exit status is recorded: the LOCK names the script's process, which ends a moment
    # before the process that waits for it records how it ended (as under Guild), and a status
    # read in between is ``error``.
    deadline = time.time() + 30
    while run.get("exit_status") is None and time.time() < deadline:
        time.sleep(0.1)
    assert run.status == Status.COMPLETED


def test_status_members_are_the_strings_guild_writes() -> None:
    assert [str(s) for s in Status.ALL] == ["pending", "staged", "running", "completed", "terminated", "error"]
    assert Status.parse("terminated") is Status.TERMINATED and "%s" % Status.ERROR == "error"
    with pytest.raises(ValueError):
        Status.parse("done")
    assert Status.AVAILABLE == ("completed", "terminated")


def test_exit_codes_for_run_statuses_and_signals() -> None:
    assert [exitcodes.for_exit_status(s) for s in (0, 3, -15, -9)] == [0, 3, 143, 137]
    assert exitcodes.for_signal(2) == exitcodes.INTERRUPTED == 130


def test_flag_identity_keys() -> None:
    opref = OpRef("script", "/p", "", "", "op.py")
    assert flagid.needed_key(opref, {"a": 1}) == flagid.needed_key(opref, {"a": 1.0}) == flagid.needed_key(opref, {"a": True})
    assert flagid.needed_key(opref, {"a": 1}) != flagid.needed_key(opref, {"a": 2})
    assert flagid.claim_key(opref, {"a": 1}) == flagid.claim_key(opref, {"a": 1.0})
    assert flagid.param_text({"a": 1}) != flagid.param_text({"a": True})
    assert flagid.needed_key(opref.encode(), {"b": [1, "x"]}) == flagid.needed_key(opref, {"b": [1.0, "x"]})
