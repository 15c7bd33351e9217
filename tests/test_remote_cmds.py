"""``guild remote status|start|stop`` against a real sshd (``tests/sshd.py``) and a real Slurm (``tests/slurm.py``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Optional

import pytest

from sshd import SshdServer, write_guild_uat_config


def guild(*args: str, env: dict[str, str], input: Optional[str] = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "luigi_guild", *args],
        capture_output=True,
        text=True,
        input=input,
        timeout=120,
        env={**os.environ, **env},
    )


def test_ssh_status_reaches_host_and_its_guild(sshd_server: SshdServer, tmp_path: Path) -> None:
    config = write_guild_uat_config(sshd_server, tmp_path / "cfg")
    env = {"GUILD_CONFIG": str(config), "GUILD_HOME": str(tmp_path / "home")}
    p = guild("remote", "status", "-v", "guild-uat", env=env)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0] == "guild-uat (%s@127.0.0.1:%d) is available" % (sshd_server.user, sshd_server.port)
    assert "  type: ssh" in lines
    assert any(ln.startswith("  guild: luigi-guild, version ") for ln in lines), lines


def test_ssh_status_without_guild_there_is_down(sshd_server: SshdServer, tmp_path: Path) -> None:
    config = write_guild_uat_config(
        sshd_server, tmp_path / "cfg", venv_path=str(tmp_path / "no-venv"), venv_activate=None
    )
    p = guild("remote", "status", "guild-uat", env={"GUILD_CONFIG": str(config), "GUILD_HOME": str(tmp_path / "h")})
    assert p.returncode == 2
    assert p.stderr == "guild: remote guild-uat is not available: guild command not found (check venv-path %s)\n" % (
        tmp_path / "no-venv"
    )
    assert p.stdout == ""


def test_ssh_reinit_runs_init_on_the_host(sshd_server: SshdServer, tmp_path: Path) -> None:
    marker = tmp_path / "inited"
    config = write_guild_uat_config(sshd_server, tmp_path / "cfg", init="echo init-ran; touch %s" % marker)
    env = {"GUILD_CONFIG": str(config), "GUILD_HOME": str(tmp_path / "home")}
    # Asked first; no answer at all exits 1 and nothing runs.
    p = guild("remote", "start", "--reinit", "guild-uat", env=env, input="")
    assert p.returncode == 1
    assert "You are about to reinitialize guild-uat" in p.stdout
    assert not marker.exists()
    p = guild("remote", "start", "--reinit", "guild-uat", env=env, input="y\n")
    assert p.returncode == 0, p.stderr
    assert "init-ran" in p.stdout
    assert marker.exists()


def test_ssh_reinit_failure_is_one_line(sshd_server: SshdServer, tmp_path: Path) -> None:
    config = write_guild_uat_config(sshd_server, tmp_path / "cfg", init="exit 7")
    p = guild("remote", "start", "--reinit", "-y", "guild-uat", env={"GUILD_CONFIG": str(config)})
    assert p.returncode == 1
    assert p.stderr == "guild: remote guild-uat: init command failed with exit code 7\n"


def test_slurm_status_lists_partitions(slurm_remote: dict[str, str], tmp_path: Path) -> None:
    env = {**slurm_remote, "GUILD_HOME": str(tmp_path / "home")}
    p = guild("remote", "status", "-v", "cluster", env=env)
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines()[0] == "cluster (this host) is available"
    assert "  partitions: debug, short" in p.stdout.splitlines()


def test_slurm_status_down_when_slurm_does_not_answer(slurm_remote: dict[str, str], tmp_path: Path) -> None:
    env = {**slurm_remote, "GUILD_HOME": str(tmp_path / "home"), "SLURM_CONF": str(tmp_path / "no-slurm.conf")}
    p = guild("remote", "status", "cluster", env=env)
    assert p.returncode == 2
    assert p.stderr.startswith("guild: remote cluster is not available: cannot reach Slurm")
    assert "\n" not in p.stderr.rstrip("\n")


ECHO = Path(__file__).resolve().parent / "samples" / "projects" / "remote-echo"


def test_ssh_push_delete_replaces_the_remote_copy(sshd_server: SshdServer, tmp_path: Path) -> None:
    config = write_guild_uat_config(sshd_server, tmp_path / "cfg")
    env = {"GUILD_CONFIG": str(config), "GUILD_HOME": str(tmp_path / "home")}
    p = subprocess.run(
        [sys.executable, "-m", "luigi_guild", "run", "echo", "-y", "-q"], cwd=ECHO, env={**os.environ, **env},
        capture_output=True, text=True, timeout=120,
    )
    assert p.returncode == 0, p.stderr
    run_id = os.listdir(tmp_path / "home" / "runs")[0]
    assert guild("push", "guild-uat", "-y", env=env).returncode == 0
    remote_runs = tmp_path / "cfg" / "remote-guild-home" / "runs"
    (remote_runs / run_id / "remote-only.txt").write_text("x")
    p = guild("runs", "push", "guild-uat", "-n", "-y", env=env)
    assert p.returncode == 0, p.stderr
    assert not (remote_runs / run_id / "remote-only.txt").exists()
    assert (remote_runs / run_id / ".guild" / "output").read_text() == "[hello]\n"
    assert sorted(os.listdir(remote_runs)) == [run_id]  # no staging directory left
