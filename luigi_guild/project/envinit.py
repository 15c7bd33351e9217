"""Guild environments (``guild init``): a ``.guild`` directory, optionally in a new virtual env with requirements.

Without a virtual env, ``init`` makes ``DIR/.guild`` laid out as Guild makes
it (``runs``, ``trash``, ``cache/runs``, a resource cache shared through a
link unless it is local, and ``.guild-nocopy``), or links ``DIR/.guild`` to a
given Guild home. Guild home is then found there (see
:func:`luigi_guild.model.home.guild_home`).

With a virtual env (``--venv`` or any option that implies it), ``DIR`` is
made by the standard library's ``venv`` with pip, the running luigi-guild is
made importable in it (a ``.pth`` file; ``--guild`` installs a given version
or wheel with pip instead), then the project's Guild package requirements
(guild.yml ``package: requires:``) and Python requirements (``-r`` or
``requirements.txt``) are installed with the env's pip, and ``--path`` dirs
are added to its ``sys.path``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Callable

from luigi_guild.model.errors import GuildError


def format_dir(path: str) -> str:
    """An absolute path with the user's home shown as ``~``."""
    path = os.path.abspath(path)
    user = os.path.expanduser("~")
    return os.path.join("~", path[len(user) + 1:]) if path.startswith(user + os.sep) else path


@dataclass
class EnvConfig:
    """What ``guild init`` is to make."""

    env_dir: str
    venv: bool = False
    name: str = ""
    python: str | None = None
    guild: str | None = None
    system_site_packages: bool = False
    guild_home: str | None = None
    user_reqs: tuple[str, ...] = ()
    guild_pkg_reqs: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()
    isolate_resources: bool = False
    pre: bool = False
    no_progress: bool = False
    warnings: list[str] = field(default_factory=list)

    def prompt_params(self) -> list[tuple[str, str | tuple[str, ...]]]:
        """The settings shown before a virtual env is made, in Guild's order."""
        from luigi_guild import __version__

        params: list[tuple[str, str | tuple[str, ...]]] = [
            ("Location", format_dir(self.env_dir)),
            ("Name", self.name),
            ("Python interpreter", self.python or "default"),
            ("Use system site packages", "yes" if self.system_site_packages else "no"),
            ("Guild", self.guild or __version__),
        ]
        if self.guild_home:
            params.append(("Guild home", self.guild_home))
        if self.guild_pkg_reqs:
            params.append(("Guild package requirements", self.guild_pkg_reqs))
        if self.user_reqs:
            params.append(("Python requirements", self.user_reqs))
        if self.pre:
            params.append(("Use pre-release", "yes"))
        if self.paths:
            params.append(("Additional paths", self.paths))
        params.append(("Resource cache", "local" if self.isolate_resources else "shared"))
        return params


def env_name(name: str | None, env_dir: str) -> str:
    """The env's name: given, else its directory's (the parent's for a dir named ``venv``)."""
    if name:
        return name
    base = os.path.basename(env_dir)
    return base if base != "venv" else os.path.basename(os.path.dirname(env_dir))


def project_package_requires(project_dir: str, warnings: list[str]) -> tuple[str, ...]:
    """``requires`` of the ``package:`` item in ``project_dir``'s guild.yml (Guild package names)."""
    import yaml

    src = os.path.join(project_dir, "guild.yml")
    if not os.path.exists(src):
        return ()
    try:
        with open(src, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        warnings.append("cannot read Guild package requirements for %s (%s) - ignoring" % (src, e))
        return ()
    for item in data if isinstance(data, list) else [data]:
        if isinstance(item, dict) and "package" in item:
            reqs = item.get("requires") or []
            if isinstance(reqs, str):
                reqs = [reqs]
            if not isinstance(reqs, list):
                warnings.append("invalid package requires list in %s (%r) - ignoring" % (src, item))
                return ()
            return tuple(sorted(str(r) for r in reqs))
    return ()


def python_interpreter(arg: str) -> str:
    """``--python``: a version (``3.11``) or an interpreter name or path, resolved on PATH."""
    name = arg if arg.startswith("python") or os.sep in arg else "python" + arg
    found = shutil.which(name)
    if not found:
        raise GuildError("cannot find Python interpreter '%s'" % name, hint="Check the --python value and try again.")
    return found


# ------------------------------------------------------------ the .guild directory


def init_guild_dir(env_dir: str, guild_home: str | None, local_cache: bool, warn: Callable[[str], None]) -> None:
    """Make ``env_dir/.guild`` (or link it to ``guild_home``)."""
    guild_dir = os.path.join(env_dir, ".guild")
    try:
        if guild_home:
            _link_home(os.path.abspath(guild_home), guild_dir, warn)
            return
        os.makedirs(guild_dir, exist_ok=True)
        with open(os.path.join(guild_dir, ".guild-nocopy"), "a"):
            pass
        for sub in ("runs", "trash", os.path.join("cache", "runs")):
            os.makedirs(os.path.join(guild_dir, sub), exist_ok=True)
        _resource_cache(guild_dir, local_cache, warn)
    except PermissionError as e:
        raise GuildError("unable to write to %s - do you have write permission?" % (e.filename or env_dir)) from None
    except OSError as e:
        raise GuildError("cannot initialize %s: %s" % (guild_dir, e.strerror or e)) from None


def _link_home(src: str, link: str, warn: Callable[[str], None]) -> None:
    if os.path.lexists(link):
        target = os.path.realpath(link)
        if os.path.islink(link) and target != os.path.realpath(src):
            warn("WARNING: Guild directory %s exists (links to %s), skipping link to Guild home %s" % (link, target, src))
        elif not os.path.islink(link):
            warn("WARNING: Guild directory %s exists, skipping link to Guild home %s" % (link, src))
        return
    os.makedirs(os.path.dirname(link), exist_ok=True)
    os.symlink(src, link)


def _resource_cache(guild_dir: str, local: bool, warn: Callable[[str], None]) -> None:
    cache = os.path.join(guild_dir, "cache", "resources")
    if os.path.lexists(cache):
        warn("Resource cache %s exists, skipping" % cache)
        return
    if local:
        os.makedirs(cache)
        return
    shared = _shared_cache(guild_dir)
    os.makedirs(shared, exist_ok=True)
    os.symlink(shared, cache)


def _shared_cache(guild_dir: str) -> str:
    """The nearest ``.guild/cache/resources`` above the env, else the user's."""
    cur = os.path.dirname(os.path.abspath(guild_dir))
    while True:
        candidate = os.path.join(cur, ".guild", "cache", "resources")
        if os.path.exists(candidate):
            return candidate
        parent = os.path.dirname(cur)
        if parent == cur:
            return os.path.join(os.path.expanduser("~"), ".guild", "cache", "resources")
        cur = parent


# ------------------------------------------------------------ the virtual env


def _env_python(env_dir: str) -> str:
    return os.path.join(env_dir, "bin", "python")


def _call(args: list[str]) -> None:
    try:
        code = subprocess.call(args)
    except OSError as e:
        raise GuildError("cannot run %s: %s" % (args[0], e.strerror or e)) from None
    if code != 0:
        raise GuildError(str(subprocess.CalledProcessError(code, args)), exit_code=code)


def create_venv(cfg: EnvConfig) -> None:
    """The standard library's venv (with pip) at ``cfg.env_dir``."""
    python = python_interpreter(cfg.python) if cfg.python else sys.executable
    args = [python, "-m", "venv", "--prompt", cfg.name]
    if cfg.system_site_packages:
        args.append("--system-site-packages")
    _call(args + [cfg.env_dir])


def _pip_install(cfg: EnvConfig, reqs: list[str], ignore_installed: bool = False) -> None:
    args = [_env_python(cfg.env_dir), "-m", "pip", "install", "--no-warn-script-location"]
    if cfg.no_progress:
        args += ["--progress-bar", "off"]
    if cfg.pre:
        args.append("--pre")
    if ignore_installed:
        args.append("--ignore-installed")
    for req in reqs:
        args += ["-r", req] if os.path.isfile(req) and not req.endswith(".whl") else [req]
    _call(args)


def upgrade_pip(cfg: EnvConfig) -> None:
    _call([_env_python(cfg.env_dir), "-m", "pip", "install", "--upgrade", "--quiet", "pip"])


def site_packages(env_dir: str) -> str:
    out = subprocess.run(
        [_env_python(env_dir), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    )
    return out.stdout.strip()


def link_running_guild(cfg: EnvConfig) -> str:
    """Make the running luigi-guild importable in the env (a ``.pth`` file) and give it a ``guild`` command.

    Returns where luigi-guild is imported from.
    """
    import luigi_guild

    pkg_parent = os.path.dirname(os.path.dirname(os.path.abspath(luigi_guild.__file__)))
    import sysconfig

    dirs = [pkg_parent]
    for d in (sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]):
        if d not in dirs:
            dirs.append(d)
    lines = ["import site; site.addsitedir(%r)" % d for d in dirs]
    with open(os.path.join(site_packages(cfg.env_dir), "luigi_guild-link.pth"), "w") as f:
        f.write("\n".join(lines) + "\n")
    script = os.path.join(cfg.env_dir, "bin", "guild")
    with open(script, "w") as f:
        f.write('#!/bin/sh\nexec "$(dirname "$0")/python" -m luigi_guild "$@"\n')
    os.chmod(script, 0o755)
    return pkg_parent


def install_guild(cfg: EnvConfig, out: Callable[[str], None]) -> None:
    from luigi_guild import __version__

    if cfg.guild:
        if cfg.guild[0].isdigit():
            out("Installing Guild %s" % cfg.guild)
            req = "luigi-guild==%s" % cfg.guild
        else:
            out("Installing %s" % cfg.guild)
            req = cfg.guild
        _pip_install(cfg, [req], ignore_installed=True)
        return
    out("Installing Guild luigi-guild==%s" % __version__)
    link_running_guild(cfg)


def install_reqs(cfg: EnvConfig, out: Callable[[str], None]) -> None:
    if cfg.guild_pkg_reqs:
        out("Installing Guild package requirements")
        _pip_install(cfg, list(cfg.guild_pkg_reqs))
    if cfg.user_reqs:
        out("Installing Python requirements")
        _pip_install(cfg, list(cfg.user_reqs))


def add_paths(cfg: EnvConfig) -> None:
    if not cfg.paths:
        return
    target = site_packages(cfg.env_dir)
    for path in cfg.paths:
        path = os.path.abspath(path)
        digest = hashlib.md5(path.encode()).hexdigest()[:8]
        with open(os.path.join(target, "%s-%s.pth" % (os.path.basename(path), digest)), "w") as f:
            f.write(path)


def activate_hint(env_dir: str) -> str:
    """The command that activates the env, relative to the current directory when it is below it."""
    shown = format_dir(env_dir)
    if os.path.dirname(os.path.abspath(env_dir)) == os.getcwd():
        shown = os.path.basename(env_dir)
    return "source %s" % os.path.join(shown, "bin", "activate")
