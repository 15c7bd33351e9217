"""Remote definitions from the user config, and ``guild remotes``."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from luigi_guild.model.errors import GuildError
from luigi_guild.remote import config as rc


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No user config leaks in: fresh HOME, GUILD_HOME and cwd."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GUILD_HOME", str(tmp_path / "guild-home"))
    monkeypatch.delenv("GUILD_CONFIG", raising=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


REMOTES = """\
remotes:
  base:
    type: ssh
    user: bob
    connect-timeout: 5
  gpu:
    extends: base
    host: gpu.example.com
    port: 2222
    private-key: keys/id_gpu
    venv-path: ~/env
    description: GPU box
  cpu:
    extends: [base]
    host: cpu.example.com
    user: alice
    guild-env: /opt/env
    guild-home: /data/guild
    known-hosts: kh
    host-key-check: no
  bare:
    type: ssh
    host: bare.example.com
"""


def test_fields_and_defaults(tmp_path: Path) -> None:
    path = write(tmp_path / "cfg" / "config.yml", REMOTES)
    cfg_dir = str(tmp_path / "cfg")
    gpu = rc.remote_config("gpu", str(path))
    assert gpu.type == "ssh" and gpu.host == "gpu.example.com" and gpu.port == 2222
    assert gpu.user == "bob"  # inherited
    assert gpu.connect_timeout == 5.0
    assert gpu.private_key == os.path.join(cfg_dir, "keys", "id_gpu")
    assert gpu.venv_path == "~/env" and gpu.guild_home == "~/env/.guild"
    assert gpu.description == "GPU box"
    assert gpu.host_key_check is True and gpu.known_hosts is None
    assert gpu.config_path == str(path)

    cpu = rc.remote_config("cpu", str(path))
    assert cpu.user == "alice"  # overrides the parent
    assert cpu.venv_path == "/opt/env"  # guild-env alias
    assert cpu.guild_home == "/data/guild"
    assert cpu.known_hosts == os.path.join(cfg_dir, "kh")
    assert cpu.host_key_check is False

    bare = rc.remote_config("bare", str(path))
    assert bare.guild_home == ".guild" and bare.venv_path is None and bare.port is None
    assert bare.connect_timeout == rc.DEFAULT_CONNECT_TIMEOUT


def test_private_key_tilde_expanded(tmp_path: Path) -> None:
    path = write(tmp_path / "config.yml", "remotes:\n  r:\n    type: ssh\n    host: h\n    private-key: ~/.ssh/id\n")
    cfg = rc.remote_config("r", str(path))
    assert cfg.private_key == os.path.join(os.environ["HOME"], ".ssh", "id")


def test_lookup_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def section(host: str) -> str:
        return "remotes:\n  r:\n    type: ssh\n    host: %s\n" % host

    write(Path(os.environ["HOME"]) / ".guild" / "config.yml", section("from-user-home"))
    assert rc.remote_config("r").host == "from-user-home"
    write(Path(os.environ["GUILD_HOME"]) / "config.yml", section("from-guild-home"))
    assert rc.remote_config("r").host == "from-guild-home"
    write(Path.cwd() / "guild-config.yml", section("from-cwd"))
    assert rc.remote_config("r").host == "from-cwd"
    env_cfg = write(tmp_path / "elsewhere.yml", section("from-env"))
    monkeypatch.setenv("GUILD_CONFIG", str(env_cfg))
    assert rc.remote_config("r").host == "from-env"


def test_no_config_means_no_remotes() -> None:
    assert rc.list_remotes() == []
    with pytest.raises(GuildError) as e:
        rc.remote_config("guild-uat")
    assert e.value.message == "remote guild-uat is not defined"
    assert e.value.hint == "Show remotes by running 'guild remotes' or 'guild remotes --help' for more information."


@pytest.mark.parametrize(
    "section, message",
    [
        ("type: ssh", "remote r is missing required config: host"),
        ("type: ssh\n    host: ''", "remote r is missing required config: host"),
        ("host: h", "remote r is missing required config: type"),
        ("type: ec2\n    host: h", "remote r has unsupported type 'ec2' (supported: ssh)"),
        ("type: ssh\n    host: h\n    port: abc", "remote r: invalid port 'abc'"),
        ("type: ssh\n    host: h\n    port: 70000", "remote r: invalid port 70000"),
        ("type: ssh\n    host: h\n    connect-timeout: -1", "remote r: invalid connect-timeout -1"),
        ("type: ssh\n    host: h\n    host-key-check: maybe", "remote r: invalid host-key-check 'maybe' (use yes or no)"),
        ("extends: nope\n    type: ssh", "remote r extends nope, which is not defined"),
    ],
)
def test_errors(tmp_path: Path, section: str, message: str) -> None:
    path = write(tmp_path / "config.yml", "remotes:\n  r:\n    %s\n" % section)
    with pytest.raises(GuildError) as e:
        rc.remote_config("r", str(path))
    assert e.value.message == message


def test_extends_cycle(tmp_path: Path) -> None:
    path = write(tmp_path / "config.yml", "remotes:\n  a:\n    extends: b\n  b:\n    extends: a\n")
    with pytest.raises(GuildError, match="cycle in 'extends'"):
        rc.remote_config("a", str(path))


def test_bad_yaml(tmp_path: Path) -> None:
    path = write(tmp_path / "config.yml", "remotes: [\n")
    with pytest.raises(GuildError, match="^error in config "):
        rc.list_remotes(str(path))


def test_list_remotes_unvalidated(tmp_path: Path) -> None:
    path = write(
        tmp_path / "config.yml",
        REMOTES + "  cloud:\n    type: ec2\n    description: |\n      First line\n      second line\n",
    )
    rows = [(r.name, r.type, r.host, r.description) for r in rc.list_remotes(str(path))]
    assert rows == [
        ("bare", "ssh", "bare.example.com", ""),
        ("base", "ssh", "", ""),
        ("cloud", "ec2", "", "First line"),
        ("cpu", "ssh", "cpu.example.com", ""),
        ("gpu", "ssh", "gpu.example.com", "GPU box"),
    ]


def guild(*args: str, env: dict | None = None, cwd: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "luigi_guild", *args],
        capture_output=True,
        text=True,
        env=dict(os.environ, **(env or {})),
        cwd=cwd,
    )


def test_guild_remotes_cli(tmp_path: Path) -> None:
    path = write(tmp_path / "config.yml", REMOTES)
    p = guild("remotes", env={"GUILD_CONFIG": str(path)})
    assert p.returncode == 0, p.stderr
    assert p.stdout == (
        "bare  ssh  bare.example.com\n"
        "base  ssh\n"
        "cpu   ssh  cpu.example.com\n"
        "gpu   ssh  gpu.example.com   GPU box\n"
    )


def test_guild_remotes_cli_empty() -> None:
    p = guild("remotes")
    assert (p.returncode, p.stdout, p.stderr) == (0, "", "")


def test_guild_remotes_cli_bad_config(tmp_path: Path) -> None:
    path = write(tmp_path / "config.yml", "remotes:\n  a:\n    extends: b\n")
    p = guild("remotes", env={"GUILD_CONFIG": str(path)})
    assert p.returncode == 1
    assert p.stderr.startswith("guild: remote a extends b, which is not defined\n")


def test_remotes_command_does_not_import_fabric(tmp_path: Path) -> None:
    path = write(tmp_path / "config.yml", REMOTES)
    p = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "luigi_guild", "remotes"],
        capture_output=True,
        text=True,
        env=dict(os.environ, GUILD_CONFIG=str(path)),
    )
    assert p.returncode == 0, p.stderr
    imported = {line.split("|")[-1].strip().split(".")[0] for line in p.stderr.splitlines() if "|" in line}
    assert "yaml" in imported
    assert not imported & {"fabric", "paramiko", "invoke", "luigi"}


def test_format_table() -> None:
    from luigi_guild.model.table import format_table

    assert format_table([["a", "bbb", "c"], ["dddd", "e", ""]]) == ["a     bbb  c", "dddd  e"]
    assert format_table([]) == []
