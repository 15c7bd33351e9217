"""``guild view``: see, compare and plot runs in a web page."""

from __future__ import annotations

from typing import Any

import click

from luigi_guild.commands.filters import filter_options, pop_filter


@click.command("view", context_settings={"help_option_names": ["--help"]})
@click.argument("runs", metavar="[RUN...]", nargs=-1)
@click.option("-h", "--host", metavar="HOST", default="127.0.0.1", show_default=True, help="Name or address to listen on.")
@click.option("-p", "--port", metavar="PORT", type=click.IntRange(0, 65535), help="Port to listen on (default: a free port).")
@click.option("-n", "--no-open", is_flag=True, help="Do not open the page in a browser.")
@click.option("--include-batch", is_flag=True, help="Include batch runs.")
@filter_options
def view(runs: tuple[str, ...], host: str, port: int | None, no_open: bool, include_batch: bool, **kw: Any) -> None:
    """Show runs in a web page: a table to sort and filter, charts of their scalars, each run's page.

    The page follows runs as they progress. It only reads runs: nothing on it
    changes one. Without RUN, every run the filters select is shown, including
    runs started later. Stop the server with Ctrl-C.
    """
    from luigi_guild.web import data as viewdata

    source = viewdata.RunSource.for_args(list(runs), pop_filter(kw, "view"), include_batch)

    from luigi_guild.web import app as webapp
    from luigi_guild.web import server

    allowed = server.LOOPBACK_HOSTS if host in ("127.0.0.1", "localhost", "::1") else None
    server.serve(webapp.create_app(source, allowed), host, port, open_browser=not no_open)
