"""Every snippet of README's "The Luigi API" section, run as written (a free port for luigid's 8082)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

from test_luigid import luigid  # noqa: F401  (fixture: a real luigid on 127.0.0.1)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)


def _blocks() -> list[tuple[str, str]]:
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as f:
        text = f.read()
    section = text.split("## The Luigi API", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```(\w+)\n(.*?)```", section, re.S)


def _runs(home: str) -> list:
    from luigi_guild.store import query

    return query.list_runs(os.path.join(home, "runs"))


def test_readme_luigi_section(tmp_path, luigid):  # noqa: F811
    proj = str(tmp_path / "pipeline")
    shutil.copytree(os.path.join(REPO, "examples", "pipeline"), proj)
    home = str(tmp_path / "home")
    env = dict(os.environ, GUILD_HOME=home, PATH=BIN + os.pathsep + os.environ["PATH"], PYTHONPATH=proj)
    env.pop("LUIGI_CONFIG_PATH", None)
    blocks = _blocks()
    assert [lang for lang, _ in blocks] == ["python", "console", "python", "ini", "console"]
    outputs = []
    for lang, body in blocks:
        first = body.splitlines()[0]
        if first.startswith("# file: "):
            name = first.split()[2]
            with open(os.path.join(proj, name), "w") as f:
                f.write(body.replace("8082", str(luigid)))
        elif lang == "python":
            assert first == "# run: python"
            r = subprocess.run([sys.executable, "-c", body], cwd=proj, env=env, capture_output=True, text=True,
                               timeout=120)
            assert r.returncode == 0, r.stderr
            outputs.append(r.stdout)
        else:
            lines = [line[2:] for line in body.splitlines() if line.startswith("$ ")]
            script = "\n".join(line for line in lines if "luigid " not in line)  # the fixture runs luigid
            script = script.replace("/tmp/guild-", str(tmp_path / "guild-"))
            r = subprocess.run(["bash", "-c", script], cwd=proj, env=env, capture_output=True, text=True,
                               timeout=300)
            assert r.returncode == 0, r.stdout + r.stderr
            outputs.append(r.stdout)
    # Local builds: Train with size 50 once (the second command ran nothing), PrepareAll size 5.
    local = _runs(home)
    assert sorted((r.op_name, r.flags.get("size"), r.flags.get("lr")) for r in local) == [
        ("prepare.py", 5, None), ("prepare.py", 50, None), ("train.py", None, 0.2)]
    assert outputs[0].count("prepared 50 samples") == 1
    assert outputs[1].splitlines() == ["completed True", "True True", "model %s" % open(
        os.path.join([r for r in local if r.op_name == "train.py"][0].path, "model.txt")).read().strip()]
    # Central scheduler: each home has its own runs; in home b two processes made each run once.
    codes = dict(line.split(": ") for line in outputs[2].splitlines() if re.fullmatch(r"\w+: \d+", line))
    assert codes["a"] == "0" and codes["again"] == "0", outputs[2]
    assert {codes["b"], codes["c"]} <= {"0", "10", "25"}, outputs[2]  # 10/25: left while the other ran Train
    for name in ("guild-a", "guild-b"):
        runs = _runs(str(tmp_path / name))
        assert sorted((r.op_name, r.status) for r in runs) == [("prepare.py", "completed"), ("train.py", "completed")]
        train = [r for r in runs if r.op_name == "train.py"][0]
        assert train.flags["lr"] == 0.3 and train.flags["operation:prepare.py"] in {r.id for r in runs}


def test_readme_one_run_one_task_id_and_one_line_errors(tmp_path, monkeypatch):
    """The section's claims about task ids and bad values, on its own pipeline_tasks module."""
    import importlib

    proj = str(tmp_path / "pipeline")
    shutil.copytree(os.path.join(REPO, "examples", "pipeline"), proj)
    body = _blocks()[0][1]
    with open(os.path.join(proj, body.splitlines()[0].split()[2]), "w") as f:
        f.write(body)
    home = str(tmp_path / "home")
    monkeypatch.setenv("GUILD_HOME", home)
    monkeypatch.syspath_prepend(proj)
    import pipeline_tasks

    m = importlib.reload(pipeline_tasks)
    from luigi_guild.tasks import OperationTask, RequiredOperationTask

    same = [m.Prepare(size=5), m.PrepareAll(size=5), m.Train(size=5).requires(),
            OperationTask(operation="prepare.py", flags={"size": 5}, project_dir=proj)]
    assert len({t.task_id for t in same}) == 1 and all(t == same[0] for t in same)
    assert same[0].task_id.startswith("prepare.py_")
    latest = RequiredOperationTask(operation="prepare.py", flags={"size": 5}, project_dir=proj)
    assert latest.task_id != same[0].task_id
    env = dict(os.environ, GUILD_HOME=home, PYTHONPATH=proj)
    env.pop("LUIGI_CONFIG_PATH", None)
    r = subprocess.run([os.path.join(BIN, "luigi"), "--module", "pipeline_tasks", "Train", "--lr", "abc",
                        "--local-scheduler"], cwd=proj, env=env, capture_output=True, text=True, timeout=120)
    assert (r.returncode, r.stderr) == (4, "guild: invalid value abc for lr: could not convert string to float: 'abc'\n")
    assert not os.path.exists(os.path.join(home, "runs")) or os.listdir(os.path.join(home, "runs")) == []


def test_readme_retcode_setting_reports_failed_tasks(tmp_path, luigid):  # noqa: F811
    proj = str(tmp_path / "proj")
    os.makedirs(proj)
    cfg = [body for lang, body in _blocks() if lang == "ini"][0]
    with open(os.path.join(proj, "luigi.cfg"), "w") as f:
        f.write(cfg.replace("8082", str(luigid)))
    with open(os.path.join(proj, "boom.py"), "w") as f:
        f.write("import sys\nprint('the cause')\nsys.exit(2)\n")
    with open(os.path.join(proj, "boom_tasks.py"), "w") as f:
        f.write("import os\nfrom luigi_guild.tasks import OperationTask\n\n"
                "class Boom(OperationTask):\n    operation = 'boom.py'\n"
                "    project_dir = os.path.dirname(os.path.abspath(__file__))\n")
    env = dict(os.environ, GUILD_HOME=str(tmp_path / "home"), PYTHONPATH=proj)
    r = subprocess.run([os.path.join(BIN, "luigi"), "--module", "boom_tasks", "Boom"], cwd=proj, env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 30, r.stderr
    assert "failed with exit status 2; last lines of its output:\nthe cause" in r.stderr
    # Not retried: luigid disabled the task, so the next build does not run it (not_run).
    r = subprocess.run([os.path.join(BIN, "luigi"), "--module", "boom_tasks", "Boom"], cwd=proj, env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 25, r.stderr
    assert len(os.listdir(tmp_path / "home" / "runs")) == 1
