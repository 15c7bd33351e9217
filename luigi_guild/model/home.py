"""Guild home and user config lookup."""

from __future__ import annotations

import os

_override: str | None = None


def set_guild_home(path: str | None) -> None:
    """Use ``path`` as Guild home for this process (the ``-H`` option)."""
    global _override
    _override = os.path.abspath(os.path.expanduser(path)) if path else None


def guild_home() -> str:
    """Guild home: ``-H``, then ``$GUILD_HOME``, then ``~/.guild``."""
    if _override:
        return _override
    env = os.environ.get("GUILD_HOME")
    if env:
        return os.path.abspath(os.path.expanduser(env))
    return os.path.join(os.path.expanduser("~"), ".guild")


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
