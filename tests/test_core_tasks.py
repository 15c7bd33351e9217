"""The Luigi API: OperationTask, NeededRunTarget and the example pipeline."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from helpers import ECHO_PY, FAIL_PY, guild, run_dirs, write_project

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def home(tmp_path, monkeypatch):
    path = str(tmp_path / "home")
    monkeypatch.setenv("GUILD_HOME", path)
    return path


@pytest.fixture
def project(tmp_path):
    return write_project(str(tmp_path / "proj"), {"echo.py": ECHO_PY, "fail.py": FAIL_PY})


def test_example_pipeline_second_build_runs_nothing(tmp_path, home):
    example = os.path.join(REPO, "examples", "pipeline")
    env = dict(os.environ, GUILD_HOME=home)
    first = subprocess.run([sys.executable, "pipeline.py"], cwd=example, env=env, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    assert "prepared 10 samples" in first.stdout and "loss:" in first.stdout
    runs = run_dirs(home)
    assert len(runs) == 2
    second = subprocess.run([sys.executable, "pipeline.py"], cwd=example, env=env, capture_output=True, text=True)
    assert second.returncode == 0, second.stderr
    assert "prepared" not in second.stdout and "loss:" not in second.stdout
    assert run_dirs(home) == runs
    listing = guild("runs", cwd=example, home=home).out
    assert "train.py" in listing and "prepare.py" in listing
    train_dir = [os.path.join(home, "runs", r) for r in runs if os.path.exists(os.path.join(home, "runs", r, "model.txt"))]
    # The upstream run's file is copied into the train run, as Guild copies it (target-type: copy).
    prep_dir = [os.path.join(home, "runs", r) for r in runs if os.path.join(home, "runs", r) not in train_dir]
    copied = os.path.join(train_dir[0], "data.txt")
    assert len(train_dir) == 1 and os.path.isfile(copied) and not os.path.islink(copied)
    with open(copied) as a, open(os.path.join(prep_dir[0], "data.txt")) as b:
        assert a.read() == b.read()
    third = subprocess.run([sys.executable, "pipeline.py", "--lr", "0.2"], cwd=example, env=env, capture_output=True, text=True)
    assert third.returncode == 0 and "loss:" in third.stdout and "prepared" not in third.stdout
    assert len(run_dirs(home)) == 3


def test_task_complete_follows_cli_runs(project, home):
    import luigi

    from luigi_guild.tasks import NeededRunTarget, OperationTask

    task = OperationTask.of("echo.py", {"x": 2.0}, project_dir=project)
    assert task.complete() is False
    assert isinstance(task.output(), luigi.Target) and isinstance(task.output(), NeededRunTarget)
    assert guild("run", "echo.py", "x=2.0", "-y", cwd=project, home=home).exit_code == 0
    assert task.complete() is True
    other = OperationTask.of("echo.py", {"x": 3.0}, project_dir=project)
    assert other.complete() is False
    assert luigi.build([other], local_scheduler=True, log_level="WARNING") is True
    assert other.complete() is True and len(run_dirs(home)) == 2


def test_flags_parameter_keeps_one_and_true_apart(project):
    from luigi_guild.tasks import OperationTask

    from luigi_guild.tasks import FlagsParameter

    a = OperationTask(operation="echo.py", flags={"x": 1}, project_dir=project)
    b = OperationTask(operation="echo.py", flags={"x": 1.0}, project_dir=project)
    c = OperationTask(operation="echo.py", flags={"z": "a", "y": 1}, project_dir=project)
    assert a is not b and a.task_id != b.task_id
    # Built tasks hold every flag (defaults filled in), so one request has one task id (issue 12).
    assert c.flags == '{"x":1.0,"y":1,"z":"a"}'
    p = FlagsParameter()
    assert len({p.normalize({"y": 1}), p.normalize({"y": 1.0}), p.normalize({"y": True})}) == 3


def test_failed_run_fails_the_task(project, home):
    import luigi

    from luigi_guild.tasks import OperationTask

    task = OperationTask.of("fail.py", project_dir=project)
    result = luigi.build([task], local_scheduler=True, log_level="CRITICAL", detailed_summary=True)
    assert result.status.name in ("FAILED", "SCHEDULING_FAILED", "FAILED_AND_SCHEDULING_FAILED")
    assert task.complete() is False
    assert len(run_dirs(home)) == 1


def test_unknown_flag_in_api_is_a_guild_error(project, home):
    from luigi_guild.model.errors import GuildError
    from luigi_guild.tasks import OperationTask

    with pytest.raises(GuildError, match="unsupported flag 'nope'"):
        OperationTask.of("echo.py", {"nope": 1}, project_dir=project)


def test_cli_run_does_not_import_luigi(project, home):
    code = (
        "import sys, runpy; sys.argv=['guild','run','echo.py','-y'];"
        "import luigi_guild.cli as c\n"
        "try:\n c.main()\nexcept SystemExit:\n pass\n"
        "print('luigi' in sys.modules, 'fabric' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=project, capture_output=True, text=True,
                         env=dict(os.environ, GUILD_HOME=home)).stdout
    assert out.strip().splitlines()[-1] == "False False"
