"""Remote definitions read from the user config (``remotes:`` section), and the ``ssh`` kind's settings.

The user config is the first existing file of
:func:`luigi_guild.model.home.user_config_paths` (``$GUILD_CONFIG``,
``./guild-config.yml``, ``$GUILD_HOME/config.yml``, ``~/.guild/config.yml``).
:func:`remote_sections` gives every remote's section with ``extends``
applied; each kind (:mod:`luigi_guild.remote.base`) validates its own.
:func:`remote_config` / :func:`parse_remote` are the ``ssh`` kind's
validation, giving a :class:`RemoteConfig`.

Example::

    remotes:
      base:
        type: ssh
        user: bob
      gpu:
        extends: base
        host: gpu.example.com
        port: 2222
        private-key: ~/.ssh/id_ed25519      # relative paths: to the config dir
        venv-path: ~/env                     # alias: guild-env
        known-hosts: ~/.ssh/known_hosts      # ours; this is also the default
        host-key-check: yes                  # ours; 'no' accepts any host key

This module only depends on PyYAML: listing remotes never imports Fabric.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional, TypeVar, Union

from luigi_guild.model import home
from luigi_guild.model.errors import GuildError

# The types :func:`parse_remote` validates (the ``ssh`` kind's settings).
SUPPORTED_TYPES = ("ssh",)

REMOTES_HINT = "Show remotes by running 'guild remotes' or 'guild remotes --help' for more information."

DEFAULT_CONNECT_TIMEOUT = 30.0

_N = TypeVar("_N", int, float)
_D = TypeVar("_D")


@dataclass(frozen=True)
class RemoteConfig:
    """A validated ``ssh`` remote.

    Local paths (``private_key``, ``known_hosts``) are absolute. Remote paths
    (``venv_path``, ``guild_home``) are kept as written: ``~`` and relative
    paths are resolved against the remote user's home by the remote shell.
    """

    name: str
    type: str
    host: str
    user: Optional[str] = None
    port: Optional[int] = None
    private_key: Optional[str] = None
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    proxy: Optional[str] = None
    venv_path: Optional[str] = None
    venv_activate: Optional[str] = None
    guild_home: str = ".guild"
    description: str = ""
    known_hosts: Optional[str] = None
    host_key_check: bool = True
    config_path: Optional[str] = None
    init: Optional[str] = None
    """A shell command ``guild remote start --reinit`` runs on the host."""

    @property
    def address(self) -> str:
        """``[user@]host[:port]`` for messages."""
        s = "%s@%s" % (self.user, self.host) if self.user else self.host
        return "%s:%s" % (s, self.port) if self.port else s


@dataclass(frozen=True)
class RemoteSummary:
    """One row of ``guild remotes``: fields as configured, unvalidated.

    ``host`` is where the remote is: its ``host`` setting, or what its kind
    shows instead (see :func:`list_remotes`).
    """

    name: str
    type: str
    host: str
    description: str


def user_config_path() -> Optional[str]:
    """The user config file in effect, or None when there is none."""
    for path in home.user_config_paths():
        if os.path.isfile(path):
            return path
    return None


def load_user_config(path: Optional[str] = None) -> tuple[dict[str, Any], Optional[str]]:
    """Parsed user config and its path (``({}, None)`` when none exists)."""
    path = path or user_config_path()
    if path is None:
        return {}, None
    import yaml  # type: ignore[import-untyped]

    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except OSError as e:
        raise GuildError("cannot read config %s: %s" % (path, e.strerror or e))
    except yaml.YAMLError as e:
        raise GuildError("error in config %s: %s" % (path, _one_line(str(e))))
    if data is None:
        return {}, path
    if not isinstance(data, dict):
        raise GuildError("error in config %s: expected a mapping at the top level" % path)
    return data, path


def remote_sections(path: Optional[str] = None) -> tuple[dict[str, dict[str, Any]], Optional[str]]:
    """All ``remotes:`` entries with ``extends`` applied, and the config path."""
    data, path = load_user_config(path)
    raw = data.get("remotes") or {}
    if not isinstance(raw, dict):
        raise GuildError("error in config %s: 'remotes' must be a mapping" % path)
    sections: dict[str, dict[str, Any]] = {}
    for name, section in raw.items():
        name = str(name)
        if section is None:
            section = {}
        if not isinstance(section, dict):
            raise GuildError("error in config %s: remote %s must be a mapping" % (path, name))
        sections[name] = section
    return {name: _resolve_extends(name, sections, ()) for name in sections}, path


def _resolve_extends(name: str, sections: dict[str, dict[str, Any]], seen: tuple[str, ...]) -> dict[str, Any]:
    if name in seen:
        raise GuildError("remote %s: cycle in 'extends' (%s)" % (seen[0], " -> ".join(seen + (name,))))
    section = sections[name]
    parents = section.get("extends") or []
    if isinstance(parents, str):
        parents = [parents]
    resolved: dict[str, Any] = {}
    for parent in parents:
        parent = str(parent)
        if parent not in sections:
            raise GuildError("remote %s extends %s, which is not defined" % (name, parent), hint=REMOTES_HINT)
        resolved.update(_resolve_extends(parent, sections, seen + (name,)))
    resolved.update({k: v for k, v in section.items() if k != "extends"})
    return resolved


def list_remotes(
    path: Optional[str] = None, location: Optional[Callable[[str, Mapping[str, Any]], str]] = None
) -> list[RemoteSummary]:
    """Configured remotes sorted by name, as written (any type).

    ``location(type, section)`` gives the where-column of a remote (default:
    its ``host`` setting).
    """
    sections, _ = remote_sections(path)
    return [
        RemoteSummary(
            name=name,
            type=as_str(section.get("type")),
            host=location(as_str(section.get("type")), section) if location else as_str(section.get("host")),
            description=as_str(section.get("description")).strip().split("\n")[0],
        )
        for name, section in sorted(sections.items())
    ]


def remote_config(name: str, path: Optional[str] = None) -> RemoteConfig:
    """The validated config of ``ssh`` remote ``name``.

    Raises GuildError for an undefined remote, an unsupported type or a
    missing/invalid field.
    """
    sections, path = remote_sections(path)
    section = sections.get(name)
    if section is None:
        raise GuildError("remote %s is not defined" % name, hint=REMOTES_HINT)
    return parse_remote(name, section, path)


def parse_remote(name: str, section: Mapping[str, Any], config_path: Optional[str] = None) -> RemoteConfig:
    """Validate one resolved ``remotes:`` entry of type ``ssh``."""
    rtype = section.get("type")
    if rtype is None:
        raise GuildError("remote %s is missing required config: type" % name)
    rtype = str(rtype)
    if rtype not in SUPPORTED_TYPES:
        raise GuildError(
            "remote %s has unsupported type '%s' (supported: %s)" % (name, rtype, ", ".join(SUPPORTED_TYPES))
        )
    host = section.get("host")
    if host is None or str(host).strip() == "":
        raise GuildError("remote %s is missing required config: host" % name)
    base_dir = config_dir(config_path)

    venv_path = opt_str(section.get("venv-path", section.get("guild-env")))
    guild_home = opt_str(section.get("guild-home"))
    if guild_home is None:
        guild_home = (venv_path.rstrip("/") + "/.guild") if venv_path else ".guild"

    return RemoteConfig(
        name=name,
        type=rtype,
        host=str(host).strip(),
        user=opt_str(section.get("user")),
        port=_port(name, section.get("port")),
        private_key=local_path(section.get("private-key"), base_dir),
        connect_timeout=_timeout(name, section.get("connect-timeout")),
        proxy=opt_str(section.get("proxy")),
        venv_path=venv_path,
        venv_activate=opt_str(section.get("venv-activate")),
        guild_home=guild_home,
        description=as_str(section.get("description")),
        known_hosts=local_path(section.get("known-hosts"), base_dir),
        host_key_check=_bool(name, "host-key-check", section.get("host-key-check", True)),
        config_path=config_path,
        init=opt_str(section.get("init")),
    )


def default_known_hosts() -> str:
    """Known-hosts file used when a remote does not set ``known-hosts``.

    The same file OpenSSH uses, so hosts already trusted by ``ssh`` are
    trusted here and keys we record are seen by ``ssh``.
    """
    return os.path.join(os.path.expanduser("~"), ".ssh", "known_hosts")


def config_dir(config_path: Optional[str]) -> str:
    """The directory relative local paths in a config are taken from (cwd without a config file)."""
    return os.path.dirname(os.path.abspath(config_path)) if config_path else os.getcwd()


def local_path(val: Any, base_dir: str) -> Optional[str]:
    """A local path setting: ``~`` expanded, relative to ``base_dir``, normalised; None when unset."""
    if val is None or str(val) == "":
        return None
    path = os.path.expanduser(str(val))
    return os.path.normpath(os.path.join(base_dir, path))


def _number(
    name: str, key: str, val: Any, kind: Callable[[Any], _N], bad: Callable[[_N], bool], default: _D
) -> Union[_N, _D]:
    """Setting ``key`` read as ``kind`` (``default`` when unset); one that does not read, or is ``bad``, is refused."""
    if val is None or val == "":
        return default
    try:
        n = kind(val)
    except (TypeError, ValueError):
        n = kind(-1)
    if bad(n):
        raise GuildError("remote %s: invalid %s %r" % (name, key, val))
    return n


def _port(name: str, val: Any) -> Optional[int]:
    return _number(name, "port", val, int, lambda p: not 0 < p < 65536, None)


def _timeout(name: str, val: Any) -> float:
    return _number(name, "connect-timeout", val, float, lambda t: t <= 0, DEFAULT_CONNECT_TIMEOUT)


def _bool(name: str, key: str, val: Any) -> bool:
    if isinstance(val, bool):
        return val
    s = str(val).strip().lower()
    if s in ("yes", "true", "on", "1"):
        return True
    if s in ("no", "false", "off", "0"):
        return False
    raise GuildError("remote %s: invalid %s %r (use yes or no)" % (name, key, val))


def opt_str(val: Any) -> Optional[str]:
    """A setting as a string, None when unset or empty."""
    if val is None:
        return None
    s = str(val)
    return s if s != "" else None


def as_str(val: Any) -> str:
    """A setting as a string, ``""`` when unset."""
    return "" if val is None else str(val)


def _one_line(s: str) -> str:
    return " ".join(s.split())
