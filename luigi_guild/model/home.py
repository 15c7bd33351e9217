"""Guild home and user config lookup."""

from __future__ import annotations

import os

_override: str | None = None


def set_guild_home(path: str | None) -> None:
    """Use ``path`` as Guild home for this process (the ``-H`` option)."""
    global _override
    _override = os.path.abspath(os.path.expanduser(path)) if path else None


def guild_home() -> str:
    """Guild home: ``-H``, then ``$GUILD_HOME``, then an environment's ``.guild`` as Guild 0.9 finds it.

    That is ``.guild`` in the activated conda or virtual env (``$CONDA_PREFIX``,
    else ``$VIRTUAL_ENV``) when it is a directory, else the nearest ``.guild``
    directory from the current directory up to the user's home (``guild init``
    makes these), else ``~/.guild``.
    """
    if _override:
        return _override
    env = os.environ.get("GUILD_HOME")
    if env:
        return os.path.abspath(os.path.expanduser(env))
    return _env_guild_home() or os.path.join(os.path.expanduser("~"), ".guild")


def _env_guild_home() -> str | None:
    activated = os.environ.get("CONDA_PREFIX") or os.environ.get("VIRTUAL_ENV")
    if activated:
        path = os.path.realpath(os.path.join(activated, ".guild"))
        if os.path.isdir(path):
            return path
    try:
        cur = os.getcwd()
    except OSError:  # the current directory was removed
        return None
    stop = os.path.realpath(os.path.expanduser("~"))
    while True:
        path = os.path.join(cur, ".guild")
        if os.path.isdir(path):
            return path
        if cur == stop or os.path.realpath(cur) == stop:
            return None
        parent = os.path.dirname(cur)
        if parent == cur:
            return None
        cur = parent


def runs_dir() -> str:
    """Directory holding live runs (created on demand by writers)."""
    return os.path.join(guild_home(), "runs")


def trash_runs_dir() -> str:
    """Directory holding deleted runs."""
    return os.path.join(guild_home(), "trash", "runs")


def cache_dir(*parts: str) -> str:
    """A path under Guild home's cache directory."""
    return os.path.join(guild_home(), "cache", *parts)


def locks_dir() -> str:
    """Directory of system-wide lock files."""
    return os.path.join(guild_home(), "locks")


def user_config_paths() -> list[str]:
    """Candidate user config files, first hit wins."""
    paths = []
    env = os.environ.get("GUILD_CONFIG")
    if env:
        paths.append(os.path.expanduser(env))
    paths.append(os.path.abspath("guild-config.yml"))
    paths.append(os.path.join(guild_home(), "config.yml"))
    paths.append(os.path.join(os.path.expanduser("~"), ".guild", "config.yml"))
    return paths
