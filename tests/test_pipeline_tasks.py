"""Pipelines in Python: upstream runs in the identity of operation tasks, failures with their cause."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from helpers import run_dirs, write_project

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(REPO, "examples", "pipeline")

PREPARE_PY = """\
size = 3
with open("data.txt", "w") as f:
    f.write("%d\\n" % size)
print("prepared", size)
"""
TRAIN_PY = """\
lr = 0.1
with open("data.txt") as f:
    size = int(f.read())
with open("model.txt", "w") as f:
    f.write("%s\\n" % (size * lr))
print("trained", size, lr)
"""
EVALUATE_PY = """\
with open("model.txt") as f:
    model = float(f.read())
print("accuracy", model)
"""
BROKEN_PY = """\
import sys
for i in range(30):
    print("line", i)
print("cannot read the data set", file=sys.stderr)
sys.exit(3)
"""


@pytest.fixture
def home(tmp_path, monkeypatch):
    path = str(tmp_path / "home")
    monkeypatch.setenv("GUILD_HOME", path)
    return path


@pytest.fixture
def project(tmp_path):
    return write_project(
        str(tmp_path / "proj"),
        {"prepare.py": PREPARE_PY, "train.py": TRAIN_PY, "evaluate.py": EVALUATE_PY, "broken.py": BROKEN_PY},
    )


def _example(home: str, *args: str) -> str:
    env = dict(os.environ, GUILD_HOME=home)
    proc = subprocess.run([sys.executable, "pipeline.py", *args], cwd=EXAMPLE, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_example_size_change_prepares_and_trains_again(home):
    first = _example(home, "--size", "10")
    assert "prepared 10 samples" in first and "loss:" in first
    second = _example(home, "--size", "50")
    assert "prepared 50 samples" in second and "loss:" in second
    assert "train.py: run" in second and "ran now" in second.split("train.py: run")[1]
    assert len(run_dirs(home)) == 4
    third = _example(home, "--size", "10")  # both size-10 runs exist: nothing runs
    assert "prepared" not in third and "loss:" not in third
    assert third.count("already done") == 2
    assert len(run_dirs(home)) == 4


def _tasks(project: str):
    import luigi

    from luigi_guild.tasks import OperationTask

    class Prepare(OperationTask):
        pass

    class Train(OperationTask):
        size = luigi.IntParameter()

        def requires(self):
            return Prepare.of("prepare.py", {"size": self.size}, project_dir=project)

    class Evaluate(OperationTask):
        size = luigi.IntParameter()
        lr = luigi.FloatParameter()

        def requires(self):
            return Train.of("train.py", {"lr": self.lr}, project_dir=project, size=self.size)

    return Prepare, Train, Evaluate


def test_evaluate_over_different_train_runs_are_different_runs(project, home):
    import luigi

    from luigi_guild.store import query

    _Prepare, _Train, Evaluate = _tasks(project)
    evals = [Evaluate.of("evaluate.py", project_dir=project, size=4, lr=lr) for lr in (0.1, 0.2, 0.3)]
    assert luigi.build(evals, local_scheduler=True, log_level="ERROR") is True
    runs = query.list_runs(os.path.join(home, "runs"))
    by_op: dict[str, list] = {}
    for run in runs:
        by_op.setdefault(run.op_name, []).append(run)
    assert len(by_op["prepare.py"]) == 1 and len(by_op["train.py"]) == 3 and len(by_op["evaluate.py"]) == 3
    trains = {r.id for r in by_op["train.py"]}
    assert {r.flags["operation:train.py"] for r in by_op["evaluate.py"]} == trains
    for ev in evals:
        out = ev.output()
        assert out.run.flags["operation:train.py"] == ev.requires().output().run.id
        with out.open("model.txt") as f:
            model = float(f.read())
        assert open(os.path.join(out.path, ".guild", "output")).read() == "accuracy %s\n" % model
    assert sorted(float(open(os.path.join(e.output().path, "model.txt")).read()) for e in evals) == [0.4, 0.8, 4 * 0.3]
    # A second build finds all seven runs.
    assert luigi.build(evals, local_scheduler=True, log_level="ERROR") is True
    assert len(run_dirs(home)) == 7


def test_failure_names_run_and_ends_with_output(project, home):
    import luigi

    from luigi_guild.tasks import OperationTask
    from luigi_guild.tasks.operation import RunFailed

    seen: list[BaseException] = []

    class Broken(OperationTask):
        def on_failure(self, exception):
            seen.append(exception)
            return super().on_failure(exception)

    task = Broken.of("broken.py", project_dir=project)
    assert luigi.build([task], local_scheduler=True, log_level="CRITICAL") is False
    (exc,) = seen
    assert isinstance(exc, RunFailed)
    run_id = run_dirs(home)[0]
    lines = str(exc).splitlines()
    assert lines[0] == "run %s (broken.py) failed with exit status 3; last lines of its output:" % run_id
    assert lines[1:] == ["line %d" % i for i in range(11, 30)] + ["cannot read the data set"]


def test_last_run_with_two_workers(project, home):
    script = textwrap.dedent(
        """
        import sys, luigi
        from luigi_guild.tasks import OperationTask
        tasks = [OperationTask.of("prepare.py", {"size": n}, project_dir=sys.argv[1]) for n in (1, 2)]
        assert luigi.build(tasks, local_scheduler=True, workers=2, log_level="ERROR")
        print(sorted(t.last_run.flags["size"] for t in tasks))
        """
    )
    out = subprocess.run([sys.executable, "-c", script, project], env=dict(os.environ, GUILD_HOME=home),
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-1] == "[1, 2]"


# ------------------------------------------------------------ typed tasks

TYPED_MODULE = """\
import os

import luigi
from luigi.util import requires

from luigi_guild.tasks import OperationTask, operation_task

HERE = os.path.dirname(os.path.abspath(__file__))


class Prepare(OperationTask):
    operation = "prepare.py"
    project_dir = HERE
    size = luigi.IntParameter(default=3)


@requires(Prepare)
class Train(OperationTask):
    operation = "train.py"
    project_dir = HERE
    lr = luigi.FloatParameter(default=0.1)


Evaluate = operation_task("evaluate.py", project_dir=HERE)
GenTrain = operation_task("train.py", project_dir=HERE, name="GenTrain")
GenPrepare = operation_task("prepare.py", project_dir=HERE, name="GenPrepare")


class HandTrain(OperationTask):  # Train without @requires: a generic upstream task, flags by hand

    size = luigi.IntParameter(default=3)

    def requires(self):
        return OperationTask.of("prepare.py", {"size": self.size}, project_dir=HERE)
"""


@pytest.fixture
def typed(project, monkeypatch):
    with open(os.path.join(project, "typed_tasks.py"), "w") as f:
        f.write(TYPED_MODULE)
    monkeypatch.syspath_prepend(project)
    import importlib

    import typed_tasks

    return importlib.reload(typed_tasks)


def _luigi(project: str, home: str, *args: str) -> subprocess.CompletedProcess:
    exe = os.path.join(os.path.dirname(sys.executable), "luigi")
    env = dict(os.environ, GUILD_HOME=home, PYTHONPATH=project)
    args += ("--local-scheduler", "--log-level", "WARNING", "--retcode-task-failed", "1")
    return subprocess.run([exe, "--module", "typed_tasks", *args],
                          cwd=project, env=env, capture_output=True, text=True, timeout=120)


def test_luigi_command_line_runs_typed_tasks(project, home, typed):
    r = _luigi(project, home, "Train", "--lr", "0.2", "--size", "4")
    assert r.returncode == 0, r.stderr
    assert "prepared 4" in r.stdout and "trained 4 0.2" in r.stdout
    r = _luigi(project, home, "GenTrain", "--lr", "0.5")  # generated class; upstream from the last build
    assert r.returncode == 1  # train.py alone has no data.txt: the failure names its cause
    assert "FileNotFoundError" in r.stderr and "failed with exit status 1; last lines of its output" in r.stderr
    from luigi_guild.store import query

    runs = query.list_runs(os.path.join(home, "runs"))
    assert [(r.op_name, r.status) for r in runs] == [("train.py", "error"), ("train.py", "completed"),
                                                     ("prepare.py", "completed")]
    assert runs[1].flags == {"lr": 0.2, "operation:prepare.py": runs[2].id}
    assert runs[0].flags == {"lr": 0.5}
    r = _luigi(project, home, "Train", "--lr", "abc")  # Luigi's own FloatParameter parses the text
    assert r.returncode == 4  # Luigi's [retcode] unhandled_exception
    assert r.stderr == "guild: invalid value abc for lr: could not convert string to float: 'abc'\n"
    r = _luigi(project, home, "Evaluate", "--help")
    assert r.returncode == 0


def test_requires_composes_and_one_run_has_one_task_id(project, home, typed):
    import luigi

    from luigi_guild.tasks import OperationTask

    train = typed.Train(lr=0.2, size=5)
    assert train.requires() == typed.Prepare(size=5)
    assert train.requires().param_kwargs["size"] == 5
    # However it is built, one request is one task (one id).
    same = [typed.Train(lr=0.2, size=5), typed.Train(lr="0.2", size="5"), typed.Train.of(flags={"lr": 0.2}, size=5)]
    assert {t.task_id for t in same} == {train.task_id}
    generic = [
        OperationTask(operation="train.py", flags={"lr": 0.2}, project_dir=project),
        OperationTask.of("train.py", {"lr": 0.2}, project_dir=project),
        OperationTask(operation="train.py", flags='{"lr": 0.2}', project_dir=os.path.relpath(project)),
    ]
    assert len({t.task_id for t in generic}) == 1
    gen = typed.GenTrain(lr=0.2)
    assert gen.lr == 0.2 and typed.GenTrain().lr == 0.1
    assert luigi.build([train], local_scheduler=True, log_level="ERROR") is True
    out = train.output()
    assert out.run.flags == {"lr": 0.2, "operation:prepare.py": train.requires().output().run.id}
    assert out.run.status == "completed" and out.path == out.run.path
    with out.open("model.txt") as f:
        assert float(f.read()) == 1.0
    model = out.file("model.txt")
    assert model.exists() and model.path == os.path.join(out.path, "model.txt")
    assert isinstance(model, luigi.Target) and isinstance(out, luigi.Target)
    with pytest.raises(ValueError):
        out.file("../x")


def test_one_run_is_one_task_however_built(project, home, typed):
    import luigi

    from luigi_guild.store import query
    from luigi_guild.tasks import OperationTask, RequiredOperationTask

    prepares = [
        OperationTask(operation="prepare.py", flags={"size": 4}, project_dir=project),
        OperationTask(operation="./prepare.py", flags='{"size": 4}', project_dir=os.path.relpath(project)),
        typed.Prepare(size=4),
        typed.GenPrepare(size=4),
        typed.Train(lr=0.2, size=4).requires(),
    ]
    assert len({t.task_id for t in prepares}) == 1, [t.task_id for t in prepares]
    assert prepares[0].task_id.startswith("prepare.py_")
    assert len(set(prepares)) == 1 and prepares[0] == prepares[2]  # equal, as their hashes are
    assert typed.Prepare(size=4) is prepares[2]  # Luigi's instance cache still answers per class
    from luigi.util import inherits

    @inherits(typed.Prepare)
    class InheritsTrain(OperationTask):  # Luigi's other composition helper: size inherited, requires by hand
        operation = "train.py"
        project_dir = project
        lr = luigi.FloatParameter(default=0.1)

        def requires(self):
            return self.clone(typed.Prepare)

    trains = [
        typed.Train(lr=0.2, size=4),
        typed.Train.of(flags={"lr": "0.2"}, size=4),
        typed.HandTrain.of("train.py", {"lr": 0.2}, project_dir=project, size=4),
        InheritsTrain(lr=0.2, size=4),
    ]
    assert len({t.task_id for t in trains}) == 1, [t.task_id for t in trains]
    # Train without upstream tasks: one run, one id, for the generated class and the generic task.
    alone = typed.GenTrain(lr=0.2)
    assert alone.task_id == OperationTask.of("train.py", {"lr": 0.2}, project_dir=project).task_id
    # Other runs, other ids: another upstream request, no upstream at all, the "latest run" rule.
    others = [
        typed.Train(lr=0.2, size=5),
        alone,
        RequiredOperationTask(operation="prepare.py", flags={"size": 4}, project_dir=project),
        typed.Prepare(size=5),
    ]
    ids = [t.task_id for t in others]
    assert len(set(ids) | {trains[0].task_id, prepares[0].task_id}) == len(others) + 2, ids
    assert luigi.build(prepares + trains, local_scheduler=True, log_level="ERROR") is True
    runs = query.list_runs(os.path.join(home, "runs"))
    assert sorted(r.op_name for r in runs) == ["prepare.py", "train.py"]
    prepare_run = next(r for r in runs if r.op_name == "prepare.py")
    assert {t.output().run.id for t in prepares} == {prepare_run.id}
    assert {t.output().run.id for t in trains} == {next(r.id for r in runs if r.op_name == "train.py")}


def test_bad_flag_fails_at_construction(project, home, typed):
    from luigi_guild.model.errors import GuildError
    from luigi_guild.tasks import OperationTask

    with pytest.raises(GuildError) as e:
        typed.Train(lr="abc")
    assert str(e.value) == "invalid value abc for lr: expected a number"
    with pytest.raises(GuildError, match="^unsupported flag 'nope' for train.py$"):
        OperationTask(operation="train.py", flags={"nope": 1}, project_dir=project)
    with pytest.raises(GuildError, match="^cannot find operation missing.py$"):
        OperationTask(operation="missing.py", project_dir=project)
    assert os.listdir(home) == [] if os.path.isdir(home) else True


CHOICES_GUILD_YML = """\
train:
  main: train
  flags:
    lr:
      default: 0.1
      type: float
    opt:
      default: sgd
      choices: [sgd, adam]
    epochs:
      required: yes
      type: int
"""
CHOICES_MODULE = """\
import os

import luigi

from luigi_guild.tasks import OperationTask, operation_task

HERE = os.path.dirname(os.path.abspath(__file__))
Gen = operation_task("train", project_dir=HERE, name="Gen")


class Train(OperationTask):
    operation = "train"
    project_dir = HERE
    lr = luigi.FloatParameter(default=0.1)
    opt = luigi.Parameter(default="sgd")
    epochs = luigi.IntParameter(default=None)
    note = luigi.Parameter()  # no flag, no default: Luigi itself finds it missing
"""


def test_bad_values_on_luigi_command_line_are_one_line(tmp_path, home):
    project = write_project(str(tmp_path / "choices"), {
        "guild.yml": CHOICES_GUILD_YML, "train.py": "print('trained')\n", "typed_tasks.py": CHOICES_MODULE})
    cases = [
        (["Gen", "--epochs", "2", "--lr", "abc"], "invalid value abc for lr: expected a number"),
        (["Gen", "--epochs", "2", "--opt", "nope"], "invalid value nope for opt: allowed values are sgd, adam"),
        (["Gen", "--epochs", "two"], "invalid value two for epochs: expected an integer"),
        (["Gen"], "missing required flag 'epochs'"),
        (["Train", "--note", "x", "--epochs", "1.5"],
         "invalid value 1.5 for epochs: invalid literal for int() with base 10: '1.5'"),
        (["Train", "--note", "x", "--epochs", "2", "--opt", "nope"],
         "invalid value nope for opt: allowed values are sgd, adam"),
        (["Train", "--epochs", "2"], "Train[args=(), kwargs={'epochs': 2}]: requires the 'note' parameter to be set"),
    ]
    for args, line in cases:
        r = _luigi(project, home, *args)
        assert (r.returncode, r.stderr) == (4, "guild: %s\n" % line), (args, r.stderr)
        assert r.stdout == ""
    r = _luigi(project, home, "Gen", "--epochs", "2", "--opt", "adam")
    assert r.returncode == 0, r.stderr
    assert "trained" in r.stdout and len(run_dirs(home)) == 1  # the bad ones left no run behind


def test_bad_values_in_python_are_one_line(tmp_path, home, monkeypatch):
    import importlib

    import luigi

    from luigi_guild.model.errors import GuildError
    from luigi_guild.tasks import TaskParameterError, TaskValueError

    project = write_project(str(tmp_path / "choices"), {
        "guild.yml": CHOICES_GUILD_YML, "train.py": "print('trained')\n", "typed_tasks.py": CHOICES_MODULE})
    monkeypatch.syspath_prepend(project)
    import typed_tasks

    m = importlib.reload(typed_tasks)
    with pytest.raises(GuildError, match="^invalid value nope for opt: allowed values are sgd, adam$"):
        m.Gen(epochs=2, opt="nope")
    with pytest.raises(GuildError, match="^missing required flag 'epochs'$"):
        m.Train(note="x")
    with pytest.raises(TaskParameterError, match="unknown parameter nope") as e:
        m.Gen(epochs=2, nope=1)
    assert isinstance(e.value, luigi.parameter.ParameterException)
    # Text (as Luigi's config or command line gives it) is parsed by the parameter: the error names it.
    lr = dict(m.Train.get_params())["lr"]
    with pytest.raises(TaskValueError, match="^invalid value abc for lr: could not convert") as v:
        lr.parse("abc")
    assert isinstance(v.value, ValueError)
    assert not os.path.exists(home)


def test_task_ids_differ_per_guild_home(project, tmp_path, monkeypatch, typed):
    monkeypatch.setenv("GUILD_HOME", str(tmp_path / "a"))
    a = typed.Train(lr=0.3).task_id
    typed.Train.clear_instance_cache()
    monkeypatch.setenv("GUILD_HOME", str(tmp_path / "b"))
    assert typed.Train(lr=0.3).task_id != a


def test_sweep_task_from_luigi_command_line(project, home):
    exe = os.path.join(os.path.dirname(sys.executable), "luigi")
    r = subprocess.run(
        [exe, "--module", "luigi_guild.tasks", "SweepTask", "--operation", "prepare.py", "--flags",
         '{"size": [1, 2]}', "--project-dir", project, "--local-scheduler", "--log-level", "WARNING"],
        env=dict(os.environ, GUILD_HOME=home), capture_output=True, text=True, timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert "prepared 1" in r.stdout and "prepared 2" in r.stdout
    assert len(run_dirs(home)) == 2


SLOW_LINES_PY = """\
import sys
import time

x = 1
for i in range(6):
    sys.stdout.write("trial %s " % x)
    sys.stdout.flush()
    time.sleep(0.03)
    sys.stdout.write("line %d end\\n" % i)
    sys.stdout.flush()
sys.stdout.write("no newline at the end %s" % x)
"""


def test_workers_relay_whole_lines(tmp_path):
    import re

    from helpers import guild

    home = str(tmp_path / "home")
    proj = write_project(str(tmp_path / "slow"), {"slow.py": SLOW_LINES_PY})
    r = guild("run", "slow.py", "x=[1,2,3,4]", "--workers", "2", "-y", cwd=proj, home=home, timeout=120)
    assert r.exit_code == 0, r.err
    lines = [line for line in r.out.splitlines() if line.strip()]
    assert len(lines) == 4 * 7, r.out
    assert all(re.fullmatch(r"trial \d line \d end|no newline at the end \d", line) for line in lines), r.out


def test_latest_upstream_run_sees_new_and_finished_runs_in_one_process(tmp_path, monkeypatch):
    from pipelines_fixtures import guild as guild_cli, project as sample

    from luigi_guild.model.opref import OpRef
    from luigi_guild.store import query

    home = str(tmp_path / "home")
    monkeypatch.setenv("GUILD_HOME", home)
    proj = sample("pipeline")
    assert guild_cli(home, "run", "prepare", "size=1", "-y", cwd=proj).rc == 0
    first = query.list_runs()[0]
    op = first.opref
    assert isinstance(op, OpRef) and query.latest_of_operation(op).id == first.id
    # A staged run is not usable; once started and completed (no new directory), it is.
    out = guild_cli(home, "run", "prepare", "size=2", "--stage", "-y", cwd=proj).out
    import re

    staged = re.search(r"staged as (\w+)", out).group(1)
    assert query.latest_of_operation(op).id == first.id
    assert guild_cli(home, "run", "--start", staged, "-y", cwd=proj).rc == 0
    assert query.latest_of_operation(op).id == staged
    assert query.latest_of_operation(op, id_prefix=first.id[:6]).id == first.id
