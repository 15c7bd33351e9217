"""``guild download URL``: put a file in the resource cache and print its SHA-256 and path."""

from __future__ import annotations

import click

from luigi_guild.commands.common import note


@click.command("download")
@click.argument("url", metavar="URL")
@click.option("--sha256", metavar="DIGEST", help="Fail unless the file's SHA-256 is DIGEST (our addition).")
def download(url: str, sha256: str | None) -> None:
    """Download a file into the resource cache.

    The file is kept in Guild home's resource cache under the URL, where Guild
    also looks for it, and the command prints its SHA-256 digest and its path.
    A file already in the cache is not downloaded again (delete it to
    refresh it). With --sha256, a download with another digest is discarded
    and the command fails.

    Check the digest of what you download yourself before you run it.
    """
    from luigi_guild.store import downloads

    got = downloads.download(url, sha256)
    if got.cached:
        note("Using cached file %s" % got.path)
    click.echo("%s  %s" % (got.sha256, got.path))
