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
@click.option("--logging", "log_requests", is_flag=True, help="Log each request on stderr.")
@filter_options
@click.option("--deleted", is_flag=True, hidden=True, help="Show deleted runs (batch runs included).")
@click.option("--test-runs-data", is_flag=True, hidden=True, help="Print the runs table's data as JSON and exit.")
@click.option("--dev", is_flag=True, hidden=True, help="Guild's front-end development server (not supported).")
@click.option("--test", is_flag=True, hidden=True, help="Guild's view tester (not supported).")
def view(
    runs: tuple[str, ...], host: str, port: int | None, no_open: bool, include_batch: bool, log_requests: bool,
    deleted: bool, test_runs_data: bool, dev: bool, test: bool, **kw: Any,
) -> None:
    """Show runs in a web page: a table to sort and filter, charts of their scalars, each run's page.

    The page follows runs as they progress. It only reads runs: nothing on it
    changes one. Without RUN, every run the filters select is shown, including
    runs started later. Stop the server with Ctrl-C. --logging logs each
    request on stderr.
    """
    from luigi_guild.model.errors import GuildError
    from luigi_guild.web import data as viewdata

    if dev or test:
        raise GuildError("--%s is not supported (Guild View's own development and test tools)" % ("dev" if dev else "test"))
    source = viewdata.RunSource.for_args(list(runs), pop_filter(kw, "view"), include_batch, deleted=deleted)
    if test_runs_data:
        import json

        click.echo(json.dumps(viewdata.table_rows(source.runs())))
        return

    from luigi_guild.web import app as webapp
    from luigi_guild.web import server

    allowed = server.LOOPBACK_HOSTS if host in ("127.0.0.1", "localhost", "::1") else None
    server.serve(webapp.create_app(source, allowed), host, port, open_browser=not no_open, log_requests=log_requests)
