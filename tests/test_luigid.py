"""A real central scheduler (luigid on 127.0.0.1) shared by two `guild run` processes."""

from __future__ import annotations

import collections
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

from pipelines_fixtures import guild_env, project, runs, trial_runs

LUIGID = os.path.join(os.path.dirname(sys.executable), "luigid")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def luigid(tmp_path):
    if not os.path.exists(LUIGID):
        pytest.skip("luigid is not installed next to the test interpreter")
    port = free_port()
    logdir = tmp_path / "luigid-log"
    logdir.mkdir()
    proc = subprocess.Popen(
        [
            LUIGID,
            "--port", str(port),
            "--address", "127.0.0.1",
            "--pidfile", str(tmp_path / "luigid.pid"),
            "--logdir", str(logdir),
            "--state-path", str(tmp_path / "luigid.state"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                pytest.fail("luigid did not start")
            time.sleep(0.1)
    yield port
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def test_two_processes_share_a_sweep_each_trial_runs_once(tmp_path, luigid):
    # Each trial sleeps long enough that both processes are up (importing Luigi takes a while on a
    # loaded machine) before the first one could have run all eight.
    home = tmp_path / "home"
    args = [
        sys.executable, "-m", "luigi_guild", "run", "echo", "x=[1,2,3,4,5,6,7,8]", "sleep=0.8", "--needed", "-y",
        "--scheduler-host", "127.0.0.1", "--scheduler-port", str(luigid),
    ]
    procs = [
        subprocess.Popen(args, cwd=project("sweep"), env=guild_env(home), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    trials = trial_runs(home, "toy:echo")
    counts = collections.Counter(t.flags["x"] for t in trials)
    assert counts == {x: 1 for x in range(1, 9)}, counts
    assert all(t.status == "completed" for t in trials)
    ran = [out.count("Running trial") for out in outs]
    assert sum(ran) == 8
    assert all(n > 0 for n in ran), "one process did all the work: %s" % ran


def test_scheduler_from_luigi_cfg(tmp_path, luigid):
    home = tmp_path / "home"
    proj = tmp_path / "proj"
    shutil.copytree(project("sweep"), proj)
    (proj / "luigi.cfg").write_text("[core]\ndefault-scheduler-host = 127.0.0.1\ndefault-scheduler-port = %d\n" % luigid)
    r = subprocess.run(
        [sys.executable, "-m", "luigi_guild", "run", "echo", "x=[1,2]", "-y"],
        cwd=proj, env=guild_env(home), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120,
    )
    assert r.returncode == 0, r.stdout
    assert len(trial_runs(home, "toy:echo")) == 2
    (proj / "luigi.cfg").write_text("[core]\ndefault-scheduler-host = 127.0.0.1\ndefault-scheduler-port = %d\n" % free_port())
    r = subprocess.run(
        [sys.executable, "-m", "luigi_guild", "run", "echo", "x=[1,2]", "-y"],
        cwd=proj, env=guild_env(home), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120,
    )
    assert r.returncode == 1 and r.stdout.startswith("guild: cannot reach the central scheduler at 127.0.0.1:")


def test_single_run_does_not_import_luigi(tmp_path):
    code = (
        "import atexit, sys\n"
        "atexit.register(lambda: sys.stderr.write('LUIGI=%s\\n' % ('luigi' in sys.modules)))\n"
        "from luigi_guild.cli import main\n"
        "main(['run', 'echo', 'x=2', '-y'])\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", code], cwd=project("sweep"), env=guild_env(tmp_path / "home"),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60,
    )
    assert "x=2 y=0.5 z='a'" in r.stdout
    assert "LUIGI=False" in r.stdout


ONE_RUN_DRIVER = """\
import sys

import luigi

import typed_tasks as m
from luigi_guild.tasks import OperationTask

project, port = m.HERE, int(sys.argv[1])
tasks = [
    OperationTask.of("prepare.py", {"size": 4}, project_dir=project),
    m.Prepare(size=4),
    m.GenPrepare(size=4),
    m.Train(lr=0.2, size=4),  # requires Prepare(size=4)
    m.HandTrain.of("train.py", {"lr": 0.2}, project_dir=project, size=4),
]
ok = luigi.build(tasks, scheduler_host="127.0.0.1", scheduler_port=port, workers=2, log_level="WARNING")
print("BUILD-OK" if ok else "BUILD-FAILED", flush=True)
"""


def test_one_run_built_three_ways_is_one_luigid_task(tmp_path, luigid):
    import json
    import urllib.parse
    import urllib.request

    from helpers import write_project
    from test_pipeline_tasks import EVALUATE_PY, PREPARE_PY, TRAIN_PY, TYPED_MODULE

    home = tmp_path / "home"
    files = {"prepare.py": PREPARE_PY, "train.py": TRAIN_PY, "evaluate.py": EVALUATE_PY, "typed_tasks.py": TYPED_MODULE,
             "driver.py": ONE_RUN_DRIVER}
    proj = write_project(str(tmp_path / "proj"), files)
    env = dict(guild_env(home), PYTHONPATH=proj)
    r = subprocess.run([sys.executable, "driver.py", str(luigid)], cwd=proj, env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=120)
    assert "BUILD-OK" in r.stdout, r.stdout
    assert r.stdout.count("prepared 4") == 1 and r.stdout.count("trained 4 0.2") == 1, r.stdout
    ops = sorted(run.op_name for run in runs(str(home)))
    assert ops == ["prepare.py", "train.py"]
    query = urllib.parse.urlencode({"data": json.dumps({"status": "DONE"})})
    with urllib.request.urlopen("http://127.0.0.1:%d/api/task_list?%s" % (luigid, query), timeout=10) as resp:
        done = sorted(json.load(resp)["response"])
    assert [tid.split("_", 1)[0] for tid in done] == ["prepare.py", "train.py"], done
