"""``guild remotes``: list the remotes defined in the user config."""

from __future__ import annotations

import click

from luigi_guild.commands.common import echo_table


@click.command("remotes")
def remotes() -> None:
    """Show available remotes.

    Remotes are defined under 'remotes' in the user config file
    ($GUILD_CONFIG, ./guild-config.yml, $GUILD_HOME/config.yml or
    ~/.guild/config.yml). Columns: name, type, host (for a local remote,
    its guild-home), description.
    """
    from luigi_guild.remote.base import location_of
    from luigi_guild.remote.config import list_remotes

    echo_table([[r.name, r.type, r.host, r.description] for r in list_remotes(location=location_of)])
