"""``guild check``: show the installation and environment (never uses the network)."""

from __future__ import annotations

import os
import platform
import shutil
import sys
from typing import Any

import click

from luigi_guild import __version__
from luigi_guild.model import home
from luigi_guild.model.errors import GuildError

GUILD_COMPAT_VERSION = "0.9.0"


def _dist_version(name: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def _du(path: str) -> int:
    total = 0
    for root, _dirs, names in os.walk(path):
        for n in names:
            try:
                total += os.lstat(os.path.join(root, n)).st_size
            except OSError:
                pass
    return total


def _human(n: int) -> str:
    size = float(n)
    for unit in ("", "K", "M", "G", "T"):
        if size < 1024 or unit == "T":
            return ("%d" % size) if unit == "" else "%.1f%s" % (size, unit)
        size /= 1024
    return str(n)  # pragma: no cover


def check_items(verbose: bool = False, env_only: bool = False) -> list[tuple[str, str]]:
    """``(name, value)`` lines of ``guild check``, in Guild's order where Guild has the item.

    ``env_only`` (``--env``) keeps Guild's and Python's lines and the latest-version line.
    """
    import luigi_guild

    nvidia = shutil.which("nvidia-smi")
    items = [
        ("guild_version", __version__),
        ("guild_compatible_with", "guildai %s" % GUILD_COMPAT_VERSION),
        ("guild_install_location", os.path.dirname(os.path.abspath(luigi_guild.__file__))),
        ("guild_home", home.guild_home()),
        ("guild_resource_cache", home.cache_dir("resources")),
        ("installed_plugins", "none"),
        ("python_version", " ".join(sys.version.split())),
        ("python_exe", sys.executable),
    ]
    if env_only:
        items = [item for item in items if item[0] != "installed_plugins"]
    if verbose:
        items.append(("python_path", os.pathsep.join(p for p in sys.path if p)))
    if env_only:
        return items + [("latest_guild_version", "unchecked (offline)")]
    items += [
        ("platform", " ".join((platform.system(), platform.release(), platform.machine()))),
        ("psutil_version", _dist_version("psutil")),
        ("luigi_version", _dist_version("luigi")),
        ("tensorboard_version", _dist_version("tensorboard")),
        ("nvidia_smi_version", nvidia or "not installed"),
    ]
    if verbose:
        for name in ("click", "fabric", "paramiko", "pip", "pyyaml", "setuptools"):
            items.append(("%s_version" % ("yaml" if name == "pyyaml" else name), _dist_version(name)))
    items.append(("latest_guild_version", "unchecked (offline)"))
    return items


@click.command("check")
@click.option("-v", "--verbose", is_flag=True, help="Also show the Python path and more library versions.")
@click.option(
    "--offline/--no-offline", default=None,
    help="Accepted for Guild compatibility: the check never uses the network, so the latest release is never looked up.",
)
@click.option("--env", "env_only", is_flag=True, help="Show only Guild's and Python's information.")
@click.option("-n", "--no-info", is_flag=True, help="Print no information (with --version: only check it).")
@click.option("-T", "--tests", "all_tests", is_flag=True, help="Run Guild's self-tests (not part of this implementation).")
@click.option("-t", "--test", "tests", metavar="TEST", multiple=True, help="Run self-test TEST (not part of this implementation).")
@click.option("-s", "--skip", metavar="TEST", multiple=True, help="Skip self-test TEST (with -T).")
@click.option("--force-test", is_flag=True, help="Run a self-test even when it is marked skipped.")
@click.option("-f", "--fast", is_flag=True, help="Stop at the first failing self-test.")
@click.option("-c", "--concurrency", type=int, metavar="INTEGER", help="Number of self-tests run at once.")
@click.option("--space", is_flag=True, help="Also show the disk space used under Guild home.")
@click.option("--version", "version_spec", metavar="SPEC", help="Fail unless this version matches SPEC (e.g. '>=0.1').")
@click.option("-r", "--remote", metavar="REMOTE", help="Check REMOTE's installation instead (its own 'guild check').")
def check(
    verbose: bool, offline: bool | None, space: bool, version_spec: str | None, remote: str | None,
    env_only: bool = False, no_info: bool = False, all_tests: bool = False, tests: tuple[str, ...] = (),
    **_self_test_opts: Any,
) -> None:
    """Show the installed version, Guild home, Python and libraries.

    Nothing is fetched from the network (the latest release is never looked
    up). With --version SPEC the command fails with exit 1 when the installed
    version does not match SPEC.
    """
    if remote:
        from luigi_guild.commands.remote_opt import forward

        forward(click.get_current_context(), remote, ["check"])
        return
    if version_spec:
        _check_version(version_spec)
    if not no_info:
        for name, value in check_items(verbose, env_only):
            click.echo("%-27s%s" % (name + ":", value))
    if all_tests or tests:
        raise GuildError(
            "Guild's self-tests are not part of luigi-guild (its own tests run with pytest from its source tree)"
        )
    if space and not no_info and not env_only:
        click.echo("disk_space:")
        paths = [
            ("guild_home", home.guild_home()),
            ("runs", home.runs_dir()),
            ("deleted_runs", home.trash_runs_dir()),
            ("cache", home.cache_dir()),
        ]
        for name, path in paths:
            click.echo("  %-25s%-6s%s" % (name + ":", _human(_du(path)), path))


def _check_version(spec: str) -> None:
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    try:
        wanted = SpecifierSet(spec)
    except InvalidSpecifier:
        raise GuildError("invalid version spec '%s'" % spec, hint="Try a spec such as '>=0.1' or '==0.1.0'.") from None
    if __version__ not in wanted:
        raise GuildError("version mismatch: current version '%s' does not match '%s'" % (__version__, spec))
