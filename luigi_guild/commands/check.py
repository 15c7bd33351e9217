"""``guild check``: show the installation and environment (never uses the network)."""

from __future__ import annotations

import os
import platform
import shutil
import sys
from dataclasses import dataclass, field
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


@dataclass
class Checks:
    """What ``guild check`` was asked to look at beyond its default lines."""

    verbose: bool = False
    env_only: bool = False
    tensorflow: bool = False
    pytorch: bool = False
    r_script: bool = False


@dataclass
class Report:
    """``(name, value)`` lines in Guild's order; ``problems`` is set when a line reports an error."""

    items: list[tuple[str, str]] = field(default_factory=list)
    problems: bool = False

    def add(self, name: str, value: str) -> None:
        self.items.append((name, value))


def check_items(checks: Checks) -> Report:
    """The lines of ``guild check``, in Guild's order where Guild has the item.

    ``env_only`` (``--env``) keeps Guild's and Python's lines and the
    latest-version line. TensorFlow and PyTorch are looked for without
    importing them; only when one is installed (and asked for) is it
    imported, in a helper process.
    """
    import luigi_guild

    report = Report()
    for item in [
        ("guild_version", __version__),
        ("guild_compatible_with", "guildai %s" % GUILD_COMPAT_VERSION),
        ("guild_install_location", os.path.dirname(os.path.abspath(luigi_guild.__file__))),
        ("guild_home", home.guild_home()),
        ("guild_resource_cache", home.cache_dir("resources")),
    ]:
        report.add(*item)
    if not checks.env_only:
        report.add("installed_plugins", "none")
    report.add("python_version", " ".join(sys.version.split()))
    report.add("python_exe", sys.executable)
    if checks.verbose:
        report.add("python_path", os.pathsep.join(p for p in sys.path if p))
    if checks.env_only:
        report.add("latest_guild_version", "unchecked (offline)")
        return report
    report.add("platform", " ".join((platform.system(), platform.release(), platform.machine())))
    report.add("psutil_version", _dist_version("psutil"))
    report.add("luigi_version", _dist_version("luigi"))
    report.add("tensorboard_version", _dist_version("tensorboard"))
    if checks.r_script:
        report.add("rscript_version", _tool_version(report, ["Rscript", "--version"], r"R scripting front-end version (.*)", True))
    if checks.tensorflow:
        _framework(report, "tensorflow", "tensorflow", ["libcuda_version", "libcudnn_version"], checks.verbose)
    if checks.pytorch:
        _framework(report, "torch", "pytorch", [], checks.verbose)
    report.add("cuda_version", _cuda_version(report))
    report.add("nvidia_smi_version", _tool_version(report, ["nvidia-smi"], r"NVIDIA-SMI ([0-9.]+)"))
    if checks.verbose:
        for name in ("click", "fabric", "paramiko", "pip", "pyyaml", "setuptools"):
            report.add("%s_version" % ("yaml" if name == "pyyaml" else name), _dist_version(name))
    report.add("latest_guild_version", "unchecked (offline)")
    return report


def _tool_version(report: Report, cmd: list[str], pattern: str, required: bool = False) -> str:
    """The version a program prints; failures are problems.

    A program not on PATH is ``not installed``, or a problem when ``required``.
    """
    exe = shutil.which(cmd[0])
    if exe is None and not required:
        return "not installed"
    import re
    import subprocess

    try:
        out = subprocess.run(
            [exe or cmd[0]] + cmd[1:], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30, check=True
        ).stdout.decode(errors="replace")
    except subprocess.CalledProcessError as e:
        report.problems = True
        return "ERROR: %s" % (e.output.decode(errors="replace").strip() or "exit status %i" % e.returncode)
    except (OSError, subprocess.TimeoutExpired) as e:
        report.problems = True
        return "ERROR: %s" % e
    m = re.search(pattern, out)
    if m is None:
        report.problems = True
        return "ERROR: unknown version (%s)" % out.strip()
    return m.group(1).strip()


def _cuda_version(report: Report) -> str:
    """CUDA's version from ``nvcc --version``, else from ``nvidia-smi --query``, else ``not installed``."""
    if shutil.which("nvcc"):
        return _tool_version(report, ["nvcc", "--version"], r"V([0-9.]+)")
    if shutil.which("nvidia-smi"):
        return _tool_version(report, ["nvidia-smi", "--query"], r"CUDA Version\s+: ([0-9.]+)")
    return "not installed"


def _framework(report: Report, module: str, label: str, unloaded: list[str], verbose: bool) -> None:
    """Lines for TensorFlow or PyTorch: ``not installed`` without importing it, else the probe's lines."""
    import importlib.util

    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        report.add("%s_version" % label, "not installed")
        for name in unloaded:
            report.add(name, "not loaded")
        return
    import subprocess

    p = subprocess.run(
        [sys.executable, "-m", "luigi_guild.commands.checkprobe", label],
        stdout=subprocess.PIPE, stderr=None if verbose else subprocess.DEVNULL,
    )
    for line in p.stdout.decode(errors="replace").splitlines():
        name, _, value = line.partition(":")
        report.add(name, value.strip())
    if p.returncode != 0:
        report.problems = True
        if not p.stdout.strip():
            report.add("%s_version" % label, "ERROR: its check exited with status %i" % p.returncode)


def _notify(code: int, message: str) -> None:
    """``--notify``: a desktop notification of the result with ``notify-send``, when it is installed.

    ``PASSED``, else ``FAILED (CODE)`` (critical, with ``: MESSAGE``, when there is a message).
    """
    exe = shutil.which("notify-send")
    if exe is None:
        sys.stderr.write("WARNING: cannot notify check result - notify-send not available\n")
        return
    import subprocess

    body, urgency = "PASSED", "normal"
    if code:
        body = "FAILED (%i)" % code
        if message:
            body, urgency = body + ": " + message, "critical"
    subprocess.run([exe, "-u", urgency, "guild check", body], stdout=subprocess.DEVNULL, check=False)


def _check_external(name: str) -> None:
    """``--external git-ls-files``: does Git list a wholly ignored directory, as source code selection expects?"""
    if name != "git-ls-files":
        raise GuildError("unsupported external check: %s" % name)
    import subprocess
    import tempfile

    git = shutil.which("git")
    if git is None:
        raise GuildError("git-ls-files NOT OK: git is not installed")
    version = subprocess.run([git, "--version"], stdout=subprocess.PIPE, check=False).stdout.decode().split()[-1:]
    where = "git version %s; %s" % ("".join(version) or "unknown", git)
    with tempfile.TemporaryDirectory(prefix="guild-check-") as tmp:
        os.mkdir(os.path.join(tmp, "files"))
        open(os.path.join(tmp, "files", "foo.txt"), "w").close()
        with open(os.path.join(tmp, ".gitignore"), "w") as f:
            f.write("*.txt\n")
        pipe, null = subprocess.PIPE, subprocess.DEVNULL
        subprocess.run([git, "-c", "init.defaultBranch=main", "init", "-q"], cwd=tmp, stdout=null, stderr=null)
        out = subprocess.run(
            [git, "ls-files", "-ioc", "--exclude-standard", "--directory"], cwd=tmp, stdout=pipe, stderr=null
        ).stdout.decode()
    if out != "files/\nfiles/foo.txt\n":
        raise GuildError("git-ls-files NOT OK (%s)\nunexpected output for ls-files:\n%s" % (where, out.rstrip()))
    click.echo("git-ls-files is ok (%s)" % where)


@click.command("check")
@click.option("-v", "--verbose", is_flag=True, help="Also show the Python path and more library versions.")
@click.option(
    "--offline/--no-offline", default=None,
    help="Accepted for Guild compatibility: the check never uses the network, so the latest release is never looked up.",
)
@click.option("--env", "env_only", is_flag=True, help="Show only Guild's and Python's information.")
@click.option("--tensorflow", is_flag=True, help="Also show TensorFlow's version, CUDA support and GPU (imported in a helper process, only when installed).")
@click.option("--pytorch", is_flag=True, help="Also show PyTorch's version, CUDA version and devices (imported in a helper process, only when installed).")
@click.option("--r-script", is_flag=True, help="Also show the version of Rscript (an error when it is missing).")
@click.option("-n", "--no-info", is_flag=True, help="Print no information (with --version: only check it).")
@click.option("-T", "--tests", "all_tests", is_flag=True, help="Run Guild's self-tests (not part of this implementation).")
@click.option("-t", "--test", "tests", metavar="TEST", multiple=True, help="Run self-test TEST (not part of this implementation).")
@click.option("-s", "--skip", metavar="TEST", multiple=True, help="Skip self-test TEST (with -T).")
@click.option("--force-test", is_flag=True, help="Run a self-test even when it is marked skipped.")
@click.option("-f", "--fast", is_flag=True, help="Stop at the first failing self-test.")
@click.option("-c", "--concurrency", type=int, metavar="INTEGER", help="Number of self-tests run at once.")
@click.option("--space", is_flag=True, help="Also show the disk space used under Guild home.")
@click.option("--version", "version_spec", metavar="SPEC", help="Fail unless this version matches SPEC (e.g. '>=0.1').")
@click.option("--notify", is_flag=True, help="Send a desktop notification (notify-send) with the result when done.")
@click.option("-r", "--remote", metavar="REMOTE", help="Check REMOTE's installation instead (its own 'guild check').")
@click.option("--check-url", hidden=True, help="Accepted for Guild compatibility (nothing is fetched).")
@click.option("--uat", hidden=True, is_flag=True, help="Guild's acceptance tests (not part of this implementation).")
@click.option("--force-uat", hidden=True, is_flag=True, help="Guild's acceptance tests (not part of this implementation).")
@click.option("--external", hidden=True, metavar="NAME", help="Check an external tool: git-ls-files.")
@click.option("--no-chrome", hidden=True, is_flag=True, help="Exit 1 on problems without the closing message.")
def check(
    verbose: bool, offline: bool | None, space: bool, version_spec: str | None, remote: str | None,
    env_only: bool = False, no_info: bool = False, all_tests: bool = False, tests: tuple[str, ...] = (),
    tensorflow: bool = False, pytorch: bool = False, r_script: bool = False, notify: bool = False,
    external: str | None = None, uat: bool = False, force_uat: bool = False, no_chrome: bool = False,
    **_self_test_opts: Any,
) -> None:
    """Show the installed version, Guild home, Python and libraries.

    Nothing is fetched from the network (the latest release is never looked
    up). With --version SPEC the command fails with exit 1 when the installed
    version does not match SPEC. --tensorflow, --pytorch and --r-script add
    lines for those tools; when a line reports an error the command ends
    with exit 1.
    """
    if remote:
        from luigi_guild.commands.remote_opt import forward

        forward(click.get_current_context(), remote, ["check"])
        return
    checks = Checks(verbose, env_only, tensorflow, pytorch, r_script)
    try:
        _check(checks, version_spec, external, uat or force_uat, no_info, all_tests or bool(tests), space, no_chrome)
    except GuildError as e:
        if notify:
            _notify(e.exit_code, e.message)
        raise
    except click.exceptions.Exit as e:  # --no-chrome: the exit status without a message
        if notify:
            _notify(e.exit_code, "")
        raise
    if notify:
        _notify(0, "")


def _check(
    checks: Checks, version_spec: str | None, external: str | None, uat: bool, no_info: bool,
    self_tests: bool, space: bool, no_chrome: bool,
) -> None:
    if version_spec:
        _check_version(version_spec)
    if external is not None:
        _check_external(external)
        return
    if uat:
        raise GuildError("Guild's acceptance tests are not part of luigi-guild")
    report = Report()
    if not no_info:
        report = check_items(checks)
        for name, value in report.items:
            click.echo("%-27s%s" % (name + ":", value))
    if self_tests:
        raise GuildError(
            "Guild's self-tests are not part of luigi-guild (its own tests run with pytest from its source tree)"
        )
    if space and not no_info and not checks.env_only:
        click.echo("disk_space:")
        paths = [
            ("guild_home", home.guild_home()),
            ("runs", home.runs_dir()),
            ("deleted_runs", home.trash_runs_dir()),
            ("cache", home.cache_dir()),
        ]
        for name, path in paths:
            click.echo("  %-25s%-6s%s" % (name + ":", _human(_du(path)), path))
    if report.problems:
        if no_chrome:
            raise click.exceptions.Exit(1)
        raise GuildError(
            "there are problems with your setup",
            hint="Refer to the issues above for more information"
            + ("" if checks.verbose else " or rerun check with the --verbose option."),
        )


def _check_version(spec: str) -> None:
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    try:
        wanted = SpecifierSet(spec)
    except InvalidSpecifier:
        raise GuildError("invalid version spec '%s'" % spec, hint="Try a spec such as '>=0.1' or '==0.1.0'.") from None
    if __version__ not in wanted:
        raise GuildError("version mismatch: current version '%s' does not match '%s'" % (__version__, spec))
