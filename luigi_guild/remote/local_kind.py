"""The ``local`` remote kind: a second Guild home on this host, run by a ``guild`` process here.

Everything the ``ssh`` kind does works the same way (the flows are shared,
see :mod:`luigi_guild.remote.actions`), without sshd or a network: commands
are a ``guild`` subprocess with ``GUILD_HOME`` set to the other home, and
files are copied with the same archive rules (:func:`archive.copy_tree
<luigi_guild.remote.archive.copy_tree>`: lock files excluded, links kept,
nothing unpacked outside its destination). Good for tests and demos, or to
keep a separate store of runs.

Config::

    remotes:
      sandbox:
        type: local
        guild-home: ~/sandbox/.guild   # required; relative paths: to the config file's directory
        venv-path: ~/envs/other        # optional: run that venv's bin/guild
        # guild: /opt/bin/guild        # optional: that guild executable (a path, or a name on PATH)
        description: Second home

Without ``venv-path`` or ``guild`` the other home is run by this same
interpreter's ``guild`` (``python -m luigi_guild``). The ``guild-home``
directory must exist (it is never created, so a mistyped path is an error,
not a new empty home) and must not be this process's own Guild home.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence

from luigi_guild.model.errors import GuildError
from luigi_guild.remote.actions import GuildHomeRemote
from luigi_guild.remote.base import register
from luigi_guild.remote.config import as_str, config_dir, local_path, opt_str
from luigi_guild.remote.host import Direction, GuildCall, GuildHost, Members, RemoteResult, strerror


@dataclass(frozen=True)
class LocalConfig:
    """A validated ``local`` remote; paths absolute."""

    name: str
    guild_home: str
    venv_path: Optional[str] = None
    guild: Optional[str] = None
    description: str = ""
    config_path: Optional[str] = None


def parse_local(name: str, section: Mapping[str, Any], config_path: Optional[str] = None) -> LocalConfig:
    """Validate one resolved ``remotes:`` entry of type ``local`` (the file system is not checked here)."""
    base_dir = config_dir(config_path)
    guild_home = local_path(section.get("guild-home"), base_dir)
    if guild_home is None:
        raise GuildError("remote %s is missing required config: guild-home" % name)
    venv_path = local_path(section.get("venv-path", section.get("guild-env")), base_dir)
    guild = opt_str(section.get("guild"))
    if guild is not None and venv_path is not None:
        raise GuildError("remote %s: set venv-path or guild, not both" % name)
    if guild is not None and (os.sep in guild or guild.startswith("~")):
        guild = local_path(guild, base_dir)
    return LocalConfig(
        name=name,
        guild_home=guild_home,
        venv_path=venv_path,
        guild=guild,
        description=as_str(section.get("description")),
        config_path=config_path,
    )


class LocalHome(GuildHost[LocalConfig]):
    """Another Guild home on this host as a :class:`~luigi_guild.remote.host.GuildHost`."""

    def __init__(self, config: LocalConfig) -> None:
        super().__init__(config)
        self._command: Optional[list[str]] = None

    def connect(self) -> None:
        """Check the home and find its ``guild`` (see :meth:`check`)."""
        self.check()

    def check(self) -> list[str]:
        """Check the home and find its ``guild``: the command line that runs it (raises when unusable)."""
        if self._command is not None:
            return self._command
        home_dir = self.guild_home
        if not os.path.exists(home_dir):
            raise self._error("guild-home %s does not exist (create it, or fix the path)" % home_dir)
        if not os.path.isdir(home_dir):
            raise self._error("guild-home %s is not a directory" % home_dir)
        from luigi_guild.model import home

        if os.path.realpath(home_dir) == os.path.realpath(home.guild_home()):
            raise self._error("guild-home %s is this Guild home" % home_dir)
        self._command = self._find_guild()
        return self._command

    def _find_guild(self) -> list[str]:
        c = self.config
        if c.venv_path is not None:
            exe = os.path.join(c.venv_path, "bin", "guild")
            if not _is_executable(exe):
                raise self._error("guild command not found (check venv-path %s)" % c.venv_path)
            return [exe]
        if c.guild is not None:
            found = c.guild if os.path.isabs(c.guild) else shutil.which(c.guild)
            if found is None or not _is_executable(found):
                raise self._error("guild command not found (check guild %s)" % c.guild)
            return [found]
        return [sys.executable, "-m", "luigi_guild"]

    def _env(self, extra: Optional[Mapping[str, str]]) -> dict[str, str]:
        env = dict(os.environ)
        venv = self.config.venv_path
        if venv is not None:
            env["VIRTUAL_ENV"] = venv
            env["PATH"] = os.path.join(venv, "bin") + os.pathsep + env.get("PATH", "")
        env["COLUMNS"] = str(shutil.get_terminal_size().columns)
        env["GUILD_HOME"] = self.guild_home
        env.update({key: str(val) for key, val in (extra or {}).items()})
        return env

    def _run(self, args: Sequence[str], call: GuildCall) -> RemoteResult:
        """Run ``guild ARGS`` with ``GUILD_HOME`` set to the other home.

        ``stream`` lets it write straight to this process's stdout and stderr
        (its output is then not captured).
        """
        command = self.check() + [str(a) for a in args]
        capture = None if call.stream else subprocess.PIPE
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            proc = subprocess.run(
                command,
                env=self._env(call.env),
                cwd=self.guild_home if call.in_guild_home else None,
                stdin=None if call.stdin else subprocess.DEVNULL,
                stdout=capture,
                stderr=subprocess.STDOUT if call.merge_stderr else capture,
                timeout=call.timeout,
                encoding="utf-8",
                errors="replace",
            )
        except subprocess.TimeoutExpired:
            raise self._error("command timed out after %g seconds" % (call.timeout or 0)) from None
        except OSError as e:
            raise self._error("cannot run %s: %s" % (command[0], strerror(e))) from None
        return RemoteResult(exit_code=proc.returncode, stdout=proc.stdout or "", stderr=proc.stderr or "")

    def _copy_tree(self, direction: Direction, src: str, dest: str, exclude: list[str], members: Members) -> None:
        """Copy with :func:`luigi_guild.remote.archive.copy_tree` (paths in the other home are its own)."""
        import tarfile

        from luigi_guild.remote.archive import copy_tree

        self.check()
        if not os.path.isdir(src):
            if direction == "put":
                raise GuildError("%s is not a directory" % src)
            raise self._error("directory %s does not exist" % src)
        try:
            copy_tree(src, dest, exclude=exclude, members=members)
        except (OSError, tarfile.TarError) as e:
            raise self._error("cannot copy %s to %s: %s" % (src, dest, strerror(e))) from None


    def replace_dirs(self, staging: str, names: Sequence[str], dest_dir: str) -> None:
        """Swap each copied directory in with renames; the old ones are removed afterwards."""
        self.check()
        try:
            for name in names:
                dest = os.path.join(dest_dir, name)
                if os.path.lexists(dest):
                    os.rename(dest, os.path.join(staging, ".old-" + name))
                os.rename(os.path.join(staging, name), dest)
        except OSError as e:
            raise self._error("cannot move runs into %s: %s" % (dest_dir, strerror(e))) from None
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def _is_executable(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


@register("local")
class LocalRemote(GuildHomeRemote[LocalConfig]):
    """A second Guild home on this host: runs there are started, listed and copied like on an SSH remote."""

    parse_config = staticmethod(parse_local)

    @classmethod
    def location(cls, section: Mapping[str, Any]) -> str:
        return as_str(section.get("guild-home"))

    def describe(self) -> str:
        return "local Guild home %s" % self.config.guild_home

    def open(self) -> LocalHome:
        return LocalHome(self.config)
