"""The ``Remote`` extension point: what every remote kind offers the commands, and the registry of kinds by name.

A remote kind is a subclass of :class:`Remote` registered under a name with
``@register("NAME")``; a remote in the user config picks its kind with
``type: NAME``. :func:`remote_for` reads a remote's config section and
returns an instance of its kind (validated, not yet connected). Commands
use only this interface, never a kind's own modules.

The built-in kinds, ``ssh`` (:mod:`luigi_guild.remote.ssh_kind`) and
``local`` (:mod:`luigi_guild.remote.local_kind`), register when the package
:mod:`luigi_guild.remote` is imported.

Nothing here connects anywhere or imports Fabric.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Mapping, Optional, Sequence, TypeVar

from luigi_guild.model.errors import GuildError
from luigi_guild.remote.config import REMOTES_HINT, remote_sections

if TYPE_CHECKING:  # pragma: no cover
    from luigi_guild.remote.package import Package
    from luigi_guild.store.rundir import Run

Confirm = Callable[[str, Sequence[Any]], None]
"""``confirm(preview, runs)``: show what is about to be copied and ask; may exit."""


@dataclass
class RemoteRunRequest:
    """A ``guild run ... -r REMOTE``: what to run there and how."""

    opspec: Optional[str]
    flag_args: list[str]
    package: Optional["Package"] = None
    restart: Optional[str] = None
    needed: bool = False
    stage: bool = False
    no_wait: bool = False
    label: Optional[str] = None
    tags: list[str] = field(default_factory=list)
    force_flags: bool = False
    sweep_args: list[str] = field(default_factory=list)
    """Sweep options (``--optimizer NAME``, ``--workers N``...) for a remote that drives sweeps itself."""


@dataclass
class RemoteRun:
    """A run as the remote lists it (the fields of ``guild runs list --json``)."""

    data: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.data.get("id") or "")

    @property
    def short_id(self) -> str:
        return self.id[:8]

    @property
    def status(self) -> str:
        return str(self.data.get("status") or "")

    @property
    def op_name(self) -> str:
        from luigi_guild.model.opref import OpRef

        try:
            return OpRef.parse(str(self.data.get("opref") or "")).display
        except ValueError:
            return ""

    @property
    def label(self) -> str:
        return str(self.data.get("label") or "")

    @property
    def started(self) -> Optional[int]:
        val = self.data.get("started")
        return val if isinstance(val, int) else None


@dataclass
class RemoteStatus:
    """What ``guild remote status`` shows: where the remote is and, for ``-v``, details."""

    where: str
    details: list[tuple[str, str]] = field(default_factory=list)


class RemoteDown(GuildError):
    """The remote cannot be reached or cannot run its ``guild`` (exit 2, as Guild exits)."""

    def __init__(self, name: str, reason: str) -> None:
        prefix = "remote %s: " % name
        if reason.startswith(prefix):
            reason = reason[len(prefix) :]
        super().__init__("remote %s is not available: %s" % (name, reason), exit_code=2)


def remote_rows(runs: Sequence[RemoteRun]) -> list[list[str]]:
    """Preview rows ``[shortid]  op  started  status  label`` for remote runs."""
    from luigi_guild.model.table import format_timestamp

    return [["[%s]" % r.short_id, r.op_name, format_timestamp(r.started), r.status, r.label] for r in runs]


class Remote(abc.ABC):
    """One configured remote: everything the commands can ask of it.

    Methods that talk to the remote connect when called and raise a
    single-line :class:`GuildError` (``remote NAME: ...``) on failure.
    Exit codes returned are the local command's.
    """

    kind: ClassVar[str] = ""
    """The ``type:`` this class is registered under (set by :func:`register`)."""

    runs_sweep_driver: ClassVar[bool] = False
    """Whether ``run`` takes an optimizer sweep (:attr:`RemoteRunRequest.sweep_args`) and drives it there."""

    def __init__(self, name: str) -> None:
        self.name = name

    @classmethod
    @abc.abstractmethod
    def from_config(cls, name: str, section: Mapping[str, Any], config_path: Optional[str]) -> "Remote":
        """Validate a remote's resolved config section (``extends`` applied); nothing is contacted."""

    @classmethod
    def location(cls, section: Mapping[str, Any]) -> str:
        """Where the remote is, for ``guild remotes``, from its unvalidated section (default: ``host``)."""
        val = section.get("host")
        return "" if val is None else str(val)

    @abc.abstractmethod
    def describe(self) -> str:
        """One line saying what and where this remote is (kind and address)."""

    @abc.abstractmethod
    def run(self, req: RemoteRunRequest) -> int:
        """Start ``req`` on the remote and, unless ``req.no_wait``, follow it until it stops."""

    @abc.abstractmethod
    def list_runs(self) -> list[RemoteRun]:
        """The remote's runs, newest first."""

    @abc.abstractmethod
    def forward(
        self,
        args: Sequence[str],
        env: Optional[Mapping[str, str]] = None,
        merge_stderr: bool = False,
        stdin: bool = True,
    ) -> int:
        """Run ``guild ARGS`` (``runs``, ``runs info``, ``stop``, ``ls``, ``cat``, ``select``...) on the remote.

        Its output is shown here as it comes; returns its exit code. With
        ``stdin``, local input reaches it (answers to its prompts).
        """

    @abc.abstractmethod
    def watch(self, args: Sequence[str]) -> int:
        """``guild watch ARGS`` on the remote; Ctrl-C detaches without stopping the run."""

    def status(self, verbose: bool = False) -> RemoteStatus:
        """Check that the remote can be used now; raises :class:`RemoteDown` when it cannot."""
        raise self.unsupported("status")

    def start(self) -> None:
        """Start the remote (bring up its machine); most kinds have nothing to start."""
        raise self.unsupported("start")

    def reinit(self) -> None:
        """Run the remote's ``init`` command again on a started remote."""
        raise self.unsupported("reinit")

    def stop(self) -> None:
        """Stop the remote (shut down its machine)."""
        raise self.unsupported("stop")

    def stop_details(self) -> Optional[str]:
        """What stopping destroys, for the warning before ``guild remote stop`` (None: a generic warning)."""
        return None

    def sync(self, run_ids: Sequence[str]) -> list[str]:
        """Pull the runs ``run_ids`` again (local copies of runs that were running here); returns those still running.

        A run the remote no longer has is left as it is, with a warning.
        """
        raise self.unsupported("sync")

    def unsupported(self, action: str) -> GuildError:
        """The one-line error for an action this kind does not have."""
        return GuildError("remote %s: %s is not supported for %s remotes" % (self.name, action, self.kind))

    @abc.abstractmethod
    def pull(
        self,
        specs: Sequence[str],
        confirm: Optional[Confirm] = None,
        filters: Sequence[str] = (),
        delete: bool = False,
    ) -> int:
        """Copy the remote runs ``specs`` select (default: all) here; returns how many.

        ``filters`` are run filter options (``-Fo train``, ``--error``...)
        applied by the remote to its list first. ``confirm(preview, runs)`` is
        called with the selected :class:`RemoteRun` list before anything is
        copied. With ``delete``, files of a local copy that the remote run no
        longer has are removed.
        """

    @abc.abstractmethod
    def push(self, runs: Sequence["Run"], confirm: Optional[Confirm] = None, delete: bool = False) -> int:
        """Copy local ``runs`` to the remote; returns how many (``confirm`` as for :meth:`pull`).

        With ``delete``, files of the remote copy that the local run no longer has are removed.
        """


# ------------------------------------------------------------------ registry

_R = TypeVar("_R", bound=type[Remote])

_KINDS: dict[str, type[Remote]] = {}


def register(kind: str) -> Callable[[_R], _R]:
    """Class decorator: make a :class:`Remote` subclass the kind for ``type: KIND``."""

    def decorate(cls: _R) -> _R:
        existing = _KINDS.get(kind)
        if existing is not None and existing is not cls:
            raise ValueError("remote kind %r is already registered (%s)" % (kind, existing.__qualname__))
        cls.kind = kind
        _KINDS[kind] = cls
        return cls

    return decorate


def kinds() -> list[str]:
    """Registered kind names, sorted."""
    return sorted(_KINDS)


def kind_class(kind: str) -> Optional[type[Remote]]:
    """The class registered for ``kind``, or None."""
    return _KINDS.get(kind)


def remote_for(name: str, path: Optional[str] = None) -> Remote:
    """The remote called ``name`` in the user config (or ``path``), as an instance of its kind.

    Raises a one-line GuildError for an undefined remote, a missing or
    unknown ``type`` (naming the known kinds) or invalid settings.
    """
    sections, config_path = remote_sections(path)
    section = sections.get(name)
    if section is None:
        raise GuildError("remote %s is not defined" % name, hint=REMOTES_HINT)
    rtype = section.get("type")
    if rtype is None:
        raise GuildError("remote %s is missing required config: type" % name)
    cls = _KINDS.get(str(rtype))
    if cls is None:
        raise GuildError(
            "remote %s has unsupported type '%s' (supported: %s)" % (name, rtype, ", ".join(kinds()))
        )
    return cls.from_config(name, section, config_path)


def location_of(rtype: str, section: Mapping[str, Any]) -> str:
    """The ``guild remotes`` location column for a section of type ``rtype`` (any type, unvalidated)."""
    cls = _KINDS.get(rtype)
    return cls.location(section) if cls is not None else Remote.location(section)
