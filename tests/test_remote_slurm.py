"""The ``slurm`` remote kind against a real single-node Slurm cluster (``tests/slurm.py``)."""

from __future__ import annotations

import time

from slurm import SlurmCluster


def _wait_state(cluster: SlurmCluster, job_id: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    state = ""
    while time.monotonic() < deadline:
        res = cluster.command("squeue", "-h", "-t", "all", "-j", job_id, "-o", "%T")
        state = res.stdout.strip()
        if state and state not in ("PENDING", "CONFIGURING", "RUNNING", "COMPLETING"):
            return state
        time.sleep(0.2)
    return state


def test_fixture_cluster_runs_a_job(slurm_cluster: SlurmCluster, tmp_path: object) -> None:
    out = "%s/out" % tmp_path
    res = slurm_cluster.command("sbatch", "--parsable", "-o", out, "--wrap", "echo hello from $SLURM_JOB_ID")
    assert res.returncode == 0, res.stderr
    job_id = res.stdout.strip()
    assert _wait_state(slurm_cluster, job_id) == "COMPLETED"
    with open(out) as f:
        assert f.read().strip() == "hello from %s" % job_id


def test_fixture_cluster_refuses_unknown_partition(slurm_cluster: SlurmCluster) -> None:
    res = slurm_cluster.command("sbatch", "-p", "no-such-partition", "--wrap", "true")
    assert res.returncode != 0
    assert "Invalid partition" in res.stderr


# ------------------------------------------------------------ config and scripts (no cluster)

import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Optional  # noqa: E402

import pytest  # noqa: E402

from luigi_guild.model.errors import GuildError  # noqa: E402
from luigi_guild.remote import slurm  # noqa: E402
from luigi_guild.remote.slurm_kind import parse_slurm  # noqa: E402

SAMPLES = Path(__file__).resolve().parent / "samples" / "projects"
PROJECT = SAMPLES / "remote-slurm"


def test_config_without_host_runs_here(tmp_path: Path) -> None:
    cfg = parse_slurm(
        "c",
        {"type": "slurm", "guild-home": "shared", "partition": "gpu", "time": "1:00:00", "cpus": 4, "mem": "8G",
         "sbatch-options": ["--gres=gpu:1", "--account=a b"]},
        str(tmp_path / "config.yml"),
    )
    assert cfg.ssh is None
    assert cfg.guild_home == str(tmp_path / "shared")
    assert cfg.settings.sbatch_args() == [
        "--partition=gpu", "--time=1:00:00", "--cpus-per-task=4", "--mem=8G", "--gres=gpu:1", "--account=a b"
    ]


def test_config_with_host_goes_over_ssh(tmp_path: Path) -> None:
    cfg = parse_slurm(
        "c",
        {"type": "slurm", "host": "login", "user": "u", "port": 2222, "guild-home": "/shared/g", "venv-path": "/shared/env"},
        None,
    )
    assert cfg.ssh is not None and cfg.ssh.address == "u@login:2222"
    assert cfg.ssh.guild_home == "/shared/g" and cfg.ssh.venv_path == "/shared/env"


@pytest.mark.parametrize(
    "section, message",
    [
        ({}, "remote c is missing required config: guild-home"),
        ({"guild-home": "g", "cpus": 0}, "remote c: invalid cpus 0 (a whole number, 1 or more)"),
        ({"guild-home": "g", "cpus": "many"}, "remote c: invalid cpus 'many' (a whole number, 1 or more)"),
        ({"guild-home": "g", "sbatch-options": {"a": 1}}, "remote c: sbatch-options must be a list of sbatch arguments"),
        ({"guild-home": "g", "sbatch-options": ["hold"]}, "remote c: invalid sbatch option 'hold' (options start with '-')"),
        ({"guild-home": "g", "host": "h"}, "remote c: guild-home must be an absolute path on the cluster (got g)"),
        ({"guild-home": "/g", "host": "h", "port": "x"}, "remote c: invalid port 'x'"),
    ],
)
def test_bad_config(section: dict, message: str) -> None:
    with pytest.raises(GuildError) as e:
        parse_slurm("c", dict(section, type="slurm"), None)
    assert str(e.value) == message


def test_operation_overrides() -> None:
    base = slurm.read_settings("remote c", {"partition": "debug", "time": "10", "cpus": 2})
    op = slurm.read_settings("operation nap", {"time": "1", "partition": "short"}, base)
    assert op.sbatch_args() == ["--partition=short", "--time=1", "--cpus-per-task=2"]
    with pytest.raises(GuildError, match="operation nap: unknown slurm setting gpus"):
        slurm.read_settings("operation nap", {"gpus": 1}, base)


def test_job_script_quotes_paths_and_picks_array_task(tmp_path: Path) -> None:
    home = tmp_path / "it's a $HOME; `x`"
    ids = ["a" * 32, "b" * 32]
    for rid in ids:
        (home / "runs" / rid / ".guild").mkdir(parents=True)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "guild"  # stands in for guild: records how it was called
    fake.write_text('#!/bin/sh\necho "guild $* in $(pwd) home $GUILD_HOME"\n')
    fake.chmod(0o755)
    script = slurm.job_script(str(home), ids, None, None)
    env = dict(os.environ, PATH="%s:%s" % (bindir, os.environ["PATH"]), SLURM_ARRAY_TASK_ID="1", SLURM_JOB_ID="7")
    p = subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    out = (home / "runs" / ids[1] / ".guild" / slurm.JOB_OUTPUT).read_text()
    assert "guild run --yes --restart %s in %s home %s" % (ids[1], home, home) in out
    assert not (home / "runs" / ids[0] / ".guild" / slurm.JOB_OUTPUT).exists()
    env["SLURM_ARRAY_TASK_ID"] = "5"
    assert subprocess.run(["sh", "-c", script], env=env, capture_output=True).returncode == 2


def _tracked(staged: bool = False, exit_status: Optional[int] = None, state: str = "") -> slurm.TrackedRun:
    return slurm.TrackedRun("r1", "9", staged, exit_status, state)


@pytest.mark.parametrize(
    "tracked, job, exit_status, removes_staged",
    [
        (_tracked(staged=True), slurm.JobState("9", "CANCELLED"), -15, True),  # cancelled while queued
        (_tracked(exit_status=-15), slurm.JobState("9", "CANCELLED"), None, False),  # the run recorded it
        (_tracked(exit_status=-15), slurm.JobState("9", "TIMEOUT", "TimeLimit"), 143, False),
        (_tracked(), slurm.JobState("9", "OUT_OF_MEMORY", "OutOfMemory"), 143, False),
        (_tracked(exit_status=0), slurm.JobState("9", "COMPLETED"), None, False),
        (_tracked(exit_status=3), slurm.JobState("9", "FAILED", "NonZeroExitCode"), None, False),
    ],
)
def test_settle_plan(tracked: slurm.TrackedRun, job: slurm.JobState, exit_status: Optional[int], removes_staged: bool) -> None:
    plan = slurm.settle_plan("/h", [tracked], {"9": job}, 5)
    attrs = "/h/runs/r1/.guild/attrs/"
    assert plan.files[attrs + "slurm_state"] == "'%s'\n" % job.describe()
    assert plan.files.get(attrs + "exit_status") == (None if exit_status is None else "%d\n" % exit_status)
    assert ("/h/runs/r1/.guild/STAGED" in plan.remove) == removes_staged
    assert "/h/runs/r1/.guild/SLURM_FINAL" in plan.files


def test_settle_plan_pending_job_is_only_described() -> None:
    plan = slurm.settle_plan("/h", [_tracked(staged=True)], {"9": slurm.JobState("9", "PENDING", "JobHeldUser")}, 5)
    assert plan.files == {"/h/runs/r1/.guild/attrs/slurm_state": "'PENDING (JobHeldUser)'\n"}
    assert not plan.remove


# ------------------------------------------------------------ bad input against the cluster


def _guild(*args: str, env: dict, cwd: Path = PROJECT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "luigi_guild", *args], cwd=cwd, env=dict(os.environ, **env),
        capture_output=True, text=True, timeout=120,
    )


def _config(tmp_path: Path, cluster: SlurmCluster, **section: Any) -> dict:
    import yaml

    shared = tmp_path / "shared"
    shared.mkdir(exist_ok=True)
    base = {"type": "slurm", "guild-home": str(shared), "venv-path": sys.prefix}
    base.update({k.replace("_", "-"): v for k, v in section.items()})
    path = tmp_path / "config.yml"
    path.write_text(yaml.safe_dump({"remotes": {"c": base}}))
    return {"GUILD_CONFIG": str(path), "GUILD_HOME": str(tmp_path / "home"), **cluster.env}


@pytest.mark.parametrize(
    "section, message",
    [
        ({"partition": "nope"}, "guild: remote c: unknown Slurm partition 'nope' (partitions: debug, short)\n"),
        (
            {"partition": "short", "time": "30"},
            "guild: remote c: sbatch refused the job: Batch job submission failed: "
            "Requested time limit is invalid (missing or exceeds some limit)\n",
        ),
        (
            {"sbatch-options": ["--no-such-option"]},
            "guild: remote c: sbatch refused the job: unrecognized option '--no-such-option'\n",
        ),
    ],
)
@pytest.mark.parametrize("flags", [[], ["lr=[0.1,0.2]"]], ids=["run", "sweep"])
def test_bad_input_leaves_no_run(
    slurm_cluster: SlurmCluster, tmp_path: Path, section: dict, message: str, flags: list
) -> None:
    env = _config(tmp_path, slurm_cluster, **section)
    p = _guild("run", "train", *flags, "-r", "c", "-y", env=env)
    assert p.returncode == 1, p.stdout + p.stderr
    assert p.stderr.splitlines()[-1] + "\n" == message
    assert "Traceback" not in p.stderr
    runs = tmp_path / "shared" / "runs"
    assert not runs.exists() or os.listdir(runs) == []


@pytest.mark.parametrize(
    "section, reason",
    [
        ({"partition": "nope"}, "unknown Slurm partition 'nope' (partitions: debug, short)"),
        ({"partition": "short", "time": "30"}, "sbatch refused the job: Batch job submission failed: Requested time limit is invalid"),
        ({"sbatch-options": ["--no-such-option"]}, "sbatch refused the job: unrecognized option '--no-such-option'"),
    ],
)
def test_optimizer_sweep_bad_input_leaves_no_batch(slurm_cluster: SlurmCluster, tmp_path: Path, section: dict, reason: str) -> None:
    """An optimizer sweep Slurm would refuse fails before its driver makes a batch run or a trial."""
    env = _config(tmp_path, slurm_cluster, **section)
    p = _guild("run", "train", "lr=[0.1:0.2]", "-o", "random", "--max-trials", "2", "-r", "c", "-y", env=env)
    assert p.returncode == 1, p.stdout + p.stderr
    assert p.stderr.splitlines()[-1].startswith("guild: remote c: " + reason), p.stderr
    assert "Traceback" not in p.stderr
    runs = tmp_path / "shared" / "runs"
    assert not runs.exists() or os.listdir(runs) == []


def test_slurm_not_reachable(slurm_cluster: SlurmCluster, tmp_path: Path) -> None:
    conf = tmp_path / "down.conf"
    text = slurm_cluster.conf.read_text()
    import re

    conf.write_text(re.sub(r"(?m)^SlurmctldPort=\d+", "SlurmctldPort=1", text))
    env = _config(tmp_path, slurm_cluster, slurm_conf=str(conf))
    p = _guild("run", "train", "-r", "c", "-y", env=env)
    assert p.returncode == 1
    assert p.stderr.splitlines()[-1].startswith("guild: remote c: cannot reach Slurm: ")
    assert "Unable to contact slurm controller" in p.stderr
    assert not (tmp_path / "shared" / "runs").exists()


# ------------------------------------------------------------ through SSH (host set)


def test_run_through_ssh_login_host(
    slurm_cluster: SlurmCluster, sshd_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With ``host``, Slurm's commands and the shared home are reached over the SSH remote's connection."""
    import yaml

    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(sshd_server.known_hosts_line())
    shared = tmp_path / "shared"
    shared.mkdir()
    section = {
        "type": "slurm",
        "host": sshd_server.host,
        "port": sshd_server.port,
        "user": sshd_server.user,
        "private-key": str(sshd_server.client_key),
        "known-hosts": str(known_hosts),
        "guild-home": str(shared),
        "venv-path": sys.prefix,
        "slurm-conf": str(slurm_cluster.conf),
        "partition": "debug",
    }
    config = tmp_path / "config.yml"
    config.write_text(yaml.safe_dump({"remotes": {"login": section}}))
    # Not in this process's environment: the SSH session must get it from slurm-conf.
    env = {k: v for k, v in os.environ.items() if k != "SLURM_CONF"}
    env.update(GUILD_CONFIG=str(config), GUILD_HOME=str(tmp_path / "home"))

    def guild(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "luigi_guild", *args], cwd=PROJECT, env=env, capture_output=True, text=True, timeout=120
        )

    p = guild("run", "train", "lr=0.4", "-r", "login", "-y")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "lr=0.4 loss=0.7143" in p.stdout and "job yes" in p.stdout
    assert "queued on login as Slurm job" in p.stdout
    runs = os.listdir(shared / "runs")
    assert len(runs) == 1
    attrs = shared / "runs" / runs[0] / ".guild" / "attrs"
    assert (attrs / "slurm_state").read_text().strip() == "'COMPLETED'"
    assert (shared / "runs" / runs[0] / ".guild" / "slurm-job.sh").read_text().startswith("#!/bin/sh\n")
    p = guild("runs", "info", "-r", "login")
    assert "status: completed" in p.stdout and "slurm_state: COMPLETED" in p.stdout, p.stdout + p.stderr
    p = guild("pull", "login", "-y")
    assert p.returncode == 0, p.stderr
    assert os.listdir(tmp_path / "home" / "runs") == runs

    # The Luigi task's complete() reads the shared home through the same connection.
    from luigi_guild.tasks.remote import RemoteOperationTask

    for key in ("GUILD_CONFIG", "GUILD_HOME"):
        monkeypatch.setenv(key, env[key])
    monkeypatch.delenv("SLURM_CONF", raising=False)
    assert RemoteOperationTask.of("train", "login", {"lr": 0.4}, project_dir=str(PROJECT)).complete()
    assert not RemoteOperationTask.of("train", "login", {"lr": 0.9}, project_dir=str(PROJECT)).complete()

    # A sweep's driver runs on the login host: one job array, a batch run with its trials linked.
    p = guild("run", "train", "lr=[0.5,0.6]", "-r", "login", "-y", "--keep-batch")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "2 trials queued on login as Slurm job array" in p.stdout, p.stdout
    assert "lr=0.5 loss=0.6667" in p.stdout and "lr=0.6 loss=0.625" in p.stdout, p.stdout
    batches = [r for r in os.listdir(shared / "runs") if (shared / "runs" / r / ".guild" / "proto").is_dir()]
    assert len(batches) == 1, os.listdir(shared / "runs")
    trials = [n for n in os.listdir(shared / "runs" / batches[0]) if not n.startswith(".")]
    assert len(trials) == 2 and all((shared / "runs" / t / ".guild" / "attrs" / "slurm_job").exists() for t in trials)


def test_running_on_another_node_reads_running_there() -> None:
    running = slurm.JobState("9", "RUNNING", "None", "", "node7")
    plan = slurm.settle_plan("/h", [_tracked()], {"9": running}, 5, here="login1", remote="cluster")
    assert plan.files["/h/runs/r1/.guild/LOCK.remote"] == "cluster\n"
    same = slurm.settle_plan("/h", [_tracked()], {"9": running}, 5, here="node7", remote="cluster")
    assert "/h/runs/r1/.guild/LOCK.remote" not in same.files
    done = slurm.settle_plan("/h", [_tracked(exit_status=0)], {"9": slurm.JobState("9", "COMPLETED")}, 5, "login1")
    assert "/h/runs/r1/.guild/LOCK.remote" in done.remove


def test_parse_settle() -> None:
    out = "9|RUNNING|None|node7\n10_1|PENDING|Priority|\n%s login1\nr1\t'9'\t0\t\t'PENDING'\n" % slurm.TRACKED_MARK
    states, tracked, here = slurm.parse_settle(out)
    assert states["9"].nodes == "node7" and states["10_1"].describe() == "PENDING (Priority)"
    assert here == "login1"
    assert tracked == [slurm.TrackedRun("r1", "9", False, None, "PENDING")]
    assert slurm.parse_settle("") == ({}, [], "")


def test_stage_then_start_by_prefix(slurm_cluster: SlurmCluster, tmp_path: Path) -> None:
    env = _config(tmp_path, slurm_cluster, partition="debug")
    p = _guild("run", "train", "lr=0.7", "-r", "c", "-y", "--stage", env=env)
    assert p.returncode == 0, p.stderr
    (run_id,) = os.listdir(tmp_path / "shared" / "runs")
    assert p.stdout == "train staged on c as %s\n" % run_id
    assert not (tmp_path / "shared" / "runs" / run_id / ".guild" / "attrs" / "slurm_job").exists()
    p = _guild("run", "-r", "c", "--start", run_id[:8], "-y", env=env)
    assert p.returncode == 0, p.stderr
    assert "lr=0.7 loss=0.5882" in p.stdout
    assert "%s queued on c as Slurm job" % run_id in p.stdout
    p = _guild("run", "-r", "c", "--start", "../../etc", "-y", env=env)
    assert p.returncode == 1
    assert p.stderr == "guild: remote c: could not find a run matching '../../etc'\n", p.stderr


def test_sweep_driver_signalled_cancels_its_jobs(slurm_cluster: SlurmCluster, tmp_path: Path) -> None:
    """SIGTERM to a sweep's driver cancels the trials' jobs: they read ``terminated``, the command exits 143."""
    import psutil

    env = _config(tmp_path, slurm_cluster, partition="debug", time="10:00")
    proc = subprocess.Popen(
        [sys.executable, "-m", "luigi_guild", "run", "nap", "seconds=[300,301]", "-r", "c", "-y"],
        cwd=PROJECT, env=dict(os.environ, **env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        while "trials queued on c as Slurm job array" not in proc.stdout.readline():
            assert time.monotonic() < deadline and proc.poll() is None, "the array was not queued"
        (driver,) = [p for p in psutil.Process(proc.pid).children(recursive=True) if "--slurm-jobs" in p.cmdline()]
        driver.terminate()
        _out, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 128 + 15, err
    assert "Traceback" not in err, err
    assert "INFO: [guild] Cancelling Slurm jobs " in err, err
    status = _guild("runs", "-r", "c", "-Fo", "nap", env=env)
    lines = status.stdout.splitlines()
    assert len(lines) == 2 and all(" terminated " in ln for ln in lines), status.stdout + err
    jobs = slurm_cluster.command("squeue", "-h", "-u", "root", "-t", "PENDING,RUNNING", "-n", "guild-nap", "-o", "%i")
    assert jobs.stdout.strip() == "", jobs.stdout


def test_squeue_array_forms() -> None:
    """Array tasks Slurm has not split are listed as ``J_[0-2]``, or as ``J`` when cancelled that early."""
    states = slurm.parse_squeue("7_[0-2,5%2]|PENDING|Priority|\n8|CANCELLED|None|\n9_1|RUNNING|None|n1\n")
    assert sorted(states) == ["7_0", "7_1", "7_2", "7_5", "8", "9_1"]
    assert states["7_5"].describe() == "PENDING (Priority)"
    slurm.whole_array_states(states, ["8_0", "8_1", "9_0", "9_1"])
    assert states["8_1"].state == "CANCELLED" and states["8_1"].job_id == "8_1"
    assert "9_0" not in states  # 9 itself is not listed: its task 0 is unknown, not borrowed from 9_1
