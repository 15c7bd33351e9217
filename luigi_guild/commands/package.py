"""``guild package``: build a Guild package (a wheel) from the project's guild.yml, and optionally upload it."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import click

from luigi_guild.model.errors import GuildError


@click.command("package")
@click.option("--clean", is_flag=True, help="Clean build directories before creating package.")
@click.option("-d", "--dist-dir", metavar="DIR", help="Directory to create the package distribution in.")
@click.option("--upload", is_flag=True, help="Upload to PyPI after creating the package.")
@click.option("--upload-test", is_flag=True, help="Upload to the PyPI test site after creating the package.")
@click.option("--repo", metavar="REPO", help="Upload to REPO after creating the package.")
@click.option("-s", "--sign", is_flag=True, help="Sign a package distribution upload with gpg.")
@click.option("-i", "--identity", metavar="IDENTITY", help="GPG identity used to sign upload.")
@click.option("-u", "--user", metavar="USERNAME", help="PyPI user name for upload.")
@click.option("-p", "--password", metavar="PASSWORD", help="PyPI password for upload.")
@click.option("-e", "--skip-existing", is_flag=True, help="Don't upload if package already exists.")
@click.option("-c", "--comment", metavar="COMMENT", help="Comment to include with upload.")
@click.option(
    "--capture-output", metavar="VALUE", hidden=True,
    help="Accepted for Guild compatibility (takes a value, as in Guild): the build's output is always captured "
    "and shown only when the build fails.",
)
def package(clean: bool, dist_dir: str | None, upload: bool, upload_test: bool, repo: str | None, sign: bool,
            identity: str | None, user: str | None, password: str | None, skip_existing: bool,
            comment: str | None, capture_output: str | None = None) -> None:
    """Create a package for distribution.

    Packages are built from projects whose guild.yml has a `package:` item
    (name, version, description, requires, data-files...); the wheel goes to
    `dist/` in the project unless `--dist-dir` is given. Each build starts
    from a scratch copy, so `--clean` has nothing to remove.

    `--upload`, `--upload-test` or `--repo REPO` then upload the wheel with
    Twine (REPO is a URL or a section of ~/.pypirc).
    """
    from luigi_guild.project import pkgbuild

    del clean  # every build starts clean
    guildfile = os.path.join(os.getcwd(), "guild.yml")
    if not os.path.isfile(guildfile):
        raise GuildError(
            "the current directory does not contain a guild.yml file",
            hint="guild.yml is required when creating a package. Create one in this directory first "
            "or try specifying a different directory.",
        )
    repo_url = repo or ("testpypi" if upload_test else "pypi" if upload else None)
    if repo_url:
        _check_upload(guildfile)
    wheel = pkgbuild.build(guildfile, dist_dir)
    click.echo("Created %s" % os.path.relpath(wheel))
    if repo_url:
        _upload(wheel, repo_url, sign, identity, user, password, skip_existing, comment)


def _check_upload(guildfile: str) -> None:
    import importlib.util

    from luigi_guild.project import pkgbuild

    if importlib.util.find_spec("twine") is None:
        raise GuildError("Twine is required to upload packages. Install it by running 'pip install twine'.")
    email = (pkgbuild.package_section(guildfile) or {}).get("author-email")
    if not email:
        raise GuildError(
            "missing package author-email in %s - cannot upload" % guildfile,
            hint="Specify a valid email for package.author-email and try again.",
        )
    if not isinstance(email, str) or not re.match(r".+?@.+", email):
        raise GuildError(
            "invalid package author-email %r in %s - cannot upload" % (email, guildfile),
            hint="Specify a valid email for package.author-email and try again.",
        )


def _upload(wheel: str, repo: str, sign: bool, identity: str | None, user: str | None, password: str | None,
            skip_existing: bool, comment: str | None) -> None:  # pragma: no cover - needs twine and an index
    args = [sys.executable, "-m", "twine", "upload"]
    args += ["--repository-url", repo] if "://" in repo else ["--repository", repo]
    if sign:
        args.append("--sign")
    if identity:
        args += ["--identity", identity]
    if user:
        args += ["--username", user]
    if password:
        args += ["--password", password]
    if skip_existing:
        args.append("--skip-existing")
    if comment:
        args += ["--comment", comment]
    code = subprocess.call(args + [wheel])
    if code != 0:
        raise GuildError("upload failed (twine exited with %d)" % code)
