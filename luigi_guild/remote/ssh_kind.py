"""The ``ssh`` remote kind: a Guild home on another machine, reached over SSH (Paramiko, Fabric).

Settings are validated by :func:`luigi_guild.remote.config.parse_remote`;
the host is :class:`luigi_guild.remote.ssh.RemoteHost`, imported (with
Paramiko) only when the remote is actually used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from luigi_guild.model.errors import GuildError
from luigi_guild.remote.actions import GuildHomeRemote
from luigi_guild.remote.base import register
from luigi_guild.remote.config import RemoteConfig, parse_remote

if TYPE_CHECKING:  # pragma: no cover
    from luigi_guild.remote.host import GuildHost


@register("ssh")
class SshRemote(GuildHomeRemote[RemoteConfig]):
    """A remote host with this program installed, its runs in its own Guild home."""

    parse_config = staticmethod(parse_remote)

    def describe(self) -> str:
        return "ssh %s, Guild home %s" % (self.config.address, self.config.guild_home)

    def where(self) -> str:
        return self.config.address

    def reinit(self) -> None:
        """Run the remote's ``init`` shell command there (its output shown here)."""
        init = self.config.init
        if not init:
            raise GuildError("remote %s: init is not defined for this remote" % self.name)
        from luigi_guild.remote.ssh import RemoteHost

        with RemoteHost(self.config) as host:
            result = host.run_shell(init, stream=True, check=False)
        if result.exit_code != 0:
            raise GuildError("remote %s: init command failed with exit code %d" % (self.name, result.exit_code))

    def open(self) -> "GuildHost[RemoteConfig]":
        from luigi_guild.remote.ssh import RemoteHost

        return RemoteHost(self.config)
