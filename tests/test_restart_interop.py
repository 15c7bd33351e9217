"""Restarts across tools on one Guild home: real guildai 0.9.0 restarts a grid batch run and a plain
run that we made (its trials import the operation's module from the run's source copy), and we
restart them again afterwards."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from pipelines_fixtures import guild_env

SWEEP = os.path.join(os.path.dirname(__file__), "samples", "projects", "sweep")


def _env(home: str) -> dict[str, str]:
    env = guild_env(home, NO_IMPORT_FLAGS_PROGRESS="1", NO_PIP_FREEZE="1", NO_VCS_COMMIT="1")
    env.pop("SYNC_RUN_OUTPUT", None)
    # guildai's ${python_exe} is an activated virtualenv's python when there is one: leave guildai its own.
    for name in ("VIRTUAL_ENV", "CONDA_PREFIX", "GUILD_PYTHON_EXE"):
        env.pop(name, None)
    return env


def _guildai(exe: str, home: str, *args: str, cwd: str) -> subprocess.CompletedProcess:
    return subprocess.run([exe, *args], cwd=cwd, env=_env(home), capture_output=True, text=True, timeout=120)


def _ours(home: str, *args: str, cwd: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "luigi_guild", *args]
    return subprocess.run(cmd, cwd=cwd, env=_env(home), capture_output=True, text=True, timeout=120)


def _setup(tmp_path) -> tuple[str, str]:
    home = str(tmp_path / "home")
    os.makedirs(home)
    proj = str(tmp_path / "proj")
    shutil.copytree(SWEEP, proj)
    return home, proj


def _statuses(home: str, proj: str) -> list[str]:
    r = _ours(home, "runs", "-s", cwd=proj)
    assert r.returncode == 0, r.stderr
    return [" ".join(line.split()[1:3]) for line in r.stdout.splitlines()]


def test_guildai_restarts_our_grid_batch(tmp_path, guildai):
    home, proj = _setup(tmp_path)
    r = _ours(home, "run", "echo", "x=[1,2]", "--keep-batch", "-y", cwd=proj)
    assert r.returncode == 0, r.stderr
    batch = _ours(home, "select", "-Fo", "echo+", cwd=proj).stdout.strip()
    assert len(batch) == 32

    r = _guildai(guildai, home, "run", "--restart", batch, "-y", cwd=proj)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "No module named" not in r.stdout + r.stderr
    assert "x=1 y=0.5 z='a'" in r.stdout and "x=2 y=0.5 z='a'" in r.stdout
    assert _statuses(home, proj) == ["toy:echo completed"] * 2 + ["toy:echo+ completed"] + ["toy:echo completed"] * 2
    links = [name for name in os.listdir(os.path.join(home, "runs", batch)) if name != ".guild"]
    assert len(links) == 4  # the batch links all four trials

    # guildai rewrote the batch's prototype as its own: we still restart the batch.
    r = _ours(home, "run", "--restart", batch, "x=[3]", "-y", cwd=proj)
    assert r.returncode == 0, r.stderr
    assert "x=3 y=0.5 z='a'" in r.stdout
    assert _statuses(home, proj).count("toy:echo completed") == 5


def test_guildai_restarts_our_plain_run(tmp_path, guildai):
    home, proj = _setup(tmp_path)
    r = _ours(home, "run", "echo", "x=7", "-y", cwd=proj)
    assert r.returncode == 0, r.stderr
    run_id = _ours(home, "select", cwd=proj).stdout.strip()
    # Without flags guildai takes the whole command from the run's op attr.
    r = _guildai(guildai, home, "run", "--restart", run_id, "-y", cwd=proj)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "x=7 y=0.5 z='a'" in r.stdout
    assert _statuses(home, proj) == ["toy:echo completed"]
    r = _ours(home, "run", "--restart", run_id, "z=b", "-y", cwd=proj)
    assert r.returncode == 0, r.stderr
    assert "x=7 y=0.5 z='b'" in r.stdout


def test_source_copy_entry_is_left_to_our_own_pythonpath():
    # The op attr names the source copy for guildai; our runs put the copy first themselves, and keep
    # the PYTHONPATH they inherit (a guild.yml PYTHONPATH stays, after the copy).
    from luigi_guild.model.opdef import without_source_path
    from luigi_guild.model.opref import OpRef
    from luigi_guild.run.plan import RunPlan
    from luigi_guild.run.process import op_env

    assert without_source_path(".", ".") == ""
    assert without_source_path("src", os.pathsep.join(["src", "/lib"])) == "/lib"
    assert without_source_path("src", "/lib") == "/lib"
    plan = RunPlan(
        opref=OpRef("guildfile", "guild.yml", "", "", "op"),
        op_attr={"op-cmd": {"cmd-env": {"PYTHONPATH": ".", "FLAGS_DEST": "globals"}}, "sourcecode": {"dest": "."}},
        flags={},
        user_flags={},
        label="",
        project_dir=None,
    )
    env = op_env(plan)
    assert "PYTHONPATH" not in env and env["FLAGS_DEST"] == "globals"
    plan.op_attr["op-cmd"]["cmd-env"]["PYTHONPATH"] = os.pathsep.join([".", "/extra"])
    assert op_env(plan)["PYTHONPATH"] == "/extra"
