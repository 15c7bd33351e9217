"""``guild remotes``: list the remotes defined in the user config."""

from __future__ import annotations

import click


def format_table(rows: list[list[str]]) -> list[str]:
    """Left-justify each column to its widest cell + 2; the last column is unpadded."""
    if not rows:
        return []
    ncols = max(len(r) for r in rows)
    rows = [list(r) + [""] * (ncols - len(r)) for r in rows]
    widths = [max(len(r[i]) for r in rows) for i in range(ncols - 1)]
    lines = []
    for r in rows:
        cells = [r[i].ljust(widths[i] + 2) for i in range(ncols - 1)] + [r[-1]]
        lines.append("".join(cells).rstrip())
    return lines


@click.command("remotes")
def remotes() -> None:
    """Show available remotes.

    Remotes are defined under 'remotes' in the user config file
    ($GUILD_CONFIG, ./guild-config.yml, $GUILD_HOME/config.yml or
    ~/.guild/config.yml). Columns: name, type, host, description.
    """
    from luigi_guild.remote.config import list_remotes

    rows = [[r.name, r.type, r.host, r.description] for r in list_remotes()]
    for line in format_table(rows):
        click.echo(line)
