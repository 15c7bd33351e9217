"""The Remote extension point: the registry of kinds and ``remote_for``."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import pytest

from luigi_guild.model.errors import GuildError
from luigi_guild.remote import base
from luigi_guild.remote.config import RemoteConfig


@pytest.fixture(autouse=True)
def _own_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Kinds registered by a test disappear after it."""
    monkeypatch.setattr(base, "_KINDS", dict(base._KINDS))


def write_config(tmp_path: Path, text: str) -> str:
    path = tmp_path / "config.yml"
    path.write_text(textwrap.dedent(text))
    return str(path)


class Echo(base.Remote):
    """A kind that only records what it was given (enough for the registry)."""

    def __init__(self, name: str, section: Mapping[str, Any], config_path: Optional[str]) -> None:
        super().__init__(name)
        self.section = dict(section)
        self.config_path = config_path

    @classmethod
    def from_config(cls, name: str, section: Mapping[str, Any], config_path: Optional[str]) -> "Echo":
        if "bad" in section:
            raise GuildError("remote %s: bad setting" % name)
        return cls(name, section, config_path)

    @classmethod
    def location(cls, section: Mapping[str, Any]) -> str:
        return "echo:%s" % section.get("where", "")

    def describe(self) -> str:
        return "echo"

    def run(self, req: base.RemoteRunRequest) -> int:
        return 0

    def list_runs(self) -> list[base.RemoteRun]:
        return []

    def forward(self, args: Sequence[str], env: Any = None, merge_stderr: bool = False, stdin: bool = True) -> int:
        return 0

    def watch(self, args: Sequence[str]) -> int:
        return 0

    def pull(self, specs: Sequence[str], confirm: Optional[base.Confirm] = None) -> int:
        return 0

    def push(self, runs: Sequence[Any], confirm: Optional[base.Confirm] = None) -> int:
        return 0


def test_builtin_kinds_are_registered() -> None:
    assert base.kinds() == ["local", "slurm", "ssh"]
    assert base.kind_class("slurm").kind == "slurm"  # type: ignore[union-attr]
    assert base.kind_class("ssh").kind == "ssh"  # type: ignore[union-attr]
    assert base.kind_class("local").kind == "local"  # type: ignore[union-attr]
    assert base.kind_class("nope") is None


def test_register_and_remote_for(tmp_path: Path) -> None:
    assert base.register("echo")(Echo) is Echo
    assert Echo.kind == "echo"
    assert base.kinds() == ["echo", "local", "slurm", "ssh"]
    path = write_config(
        tmp_path,
        """\
        remotes:
          parent:
            where: up
          e:
            extends: parent
            type: echo
        """,
    )
    remote = base.remote_for("e", path)
    assert isinstance(remote, Echo)
    assert remote.name == "e"
    assert remote.section == {"type": "echo", "where": "up"}  # extends applied
    assert remote.config_path == path
    assert base.location_of("echo", remote.section) == "echo:up"


def test_a_kind_name_is_taken_once() -> None:
    base.register("echo")(Echo)
    base.register("echo")(Echo)  # the same class again is harmless

    class Other(Echo):
        pass

    with pytest.raises(ValueError, match="remote kind 'echo' is already registered"):
        base.register("echo")(Other)


def test_ssh_kind_validates_its_settings(tmp_path: Path) -> None:
    path = write_config(tmp_path, "remotes:\n  gpu:\n    type: ssh\n    host: gpu.example.com\n    port: 2222\n")
    remote = base.remote_for("gpu", path)
    assert remote.kind == "ssh"
    assert isinstance(getattr(remote, "config"), RemoteConfig)
    assert remote.describe() == "ssh gpu.example.com:2222, Guild home .guild"


@pytest.mark.parametrize(
    "section, message",
    [
        ("type: ec2", "remote r has unsupported type 'ec2' (supported: local, slurm, ssh)"),
        ("host: h", "remote r is missing required config: type"),
        ("type: ssh", "remote r is missing required config: host"),
        ("type: local", "remote r is missing required config: guild-home"),
        (
            "type: local\n    guild-home: x\n    guild: g\n    venv-path: v",
            "remote r: set venv-path or guild, not both",
        ),
    ],
)
def test_remote_for_errors(tmp_path: Path, section: str, message: str) -> None:
    path = write_config(tmp_path, "remotes:\n  r:\n    %s\n" % section)
    with pytest.raises(GuildError) as e:
        base.remote_for("r", path)
    assert e.value.message == message


def test_undefined_remote(tmp_path: Path) -> None:
    path = write_config(tmp_path, "remotes: {}\n")
    with pytest.raises(GuildError) as e:
        base.remote_for("nowhere", path)
    assert e.value.message == "remote nowhere is not defined"
    assert e.value.hint and "guild remotes" in e.value.hint


def test_location_column(tmp_path: Path) -> None:
    assert base.location_of("ssh", {"host": "h"}) == "h"
    assert base.location_of("local", {"guild-home": "~/other", "host": "ignored"}) == "~/other"
    assert base.location_of("ec2", {"host": "h"}) == "h"  # unknown kinds show their host
    assert base.location_of("ec2", {}) == ""


def test_unknown_type_on_the_command_line(tmp_path: Path) -> None:
    path = write_config(tmp_path, "remotes:\n  cloud:\n    type: ec2\n    host: h\n")
    env = dict(os.environ, GUILD_CONFIG=path, GUILD_HOME=str(tmp_path / "home"))
    for args in (["runs", "-r", "cloud"], ["pull", "cloud", "-y"], ["watch", "-r", "cloud"]):
        p = subprocess.run([sys.executable, "-m", "luigi_guild", *args], capture_output=True, text=True, env=env)
        assert (p.returncode, p.stdout) == (1, ""), args
        assert p.stderr == "guild: remote cloud has unsupported type 'ec2' (supported: local, slurm, ssh)\n", args
