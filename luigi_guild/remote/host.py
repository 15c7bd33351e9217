"""A Guild home reached from here: the few operations the shared remote flows need from it.

The SSH remote (:class:`luigi_guild.remote.ssh.RemoteHost`) and the local
remote (:class:`luigi_guild.remote.local_kind.LocalHome`) are both a
:class:`GuildHost`: something that runs *its* ``guild`` against *its* Guild
home and copies directory trees in and out. What is the same for every kind
is done here once (``run``'s options packed into a :class:`GuildCall` and its
exit checked, both copy directions, naming, errors, the context manager); a
kind implements only how to run and how to copy. :mod:`luigi_guild.remote.actions`
builds ``run``, ``pull``, ``push`` and command forwarding on just that.

Also the small text helpers both use to turn failures into one-line messages.
No Fabric here.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Generic, Iterable, Literal, Mapping, Optional, Protocol, Sequence, TypeVar

from luigi_guild.model.errors import GuildError

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Self  # Python 3.11+: annotations only


@dataclass(frozen=True)
class RemoteResult:
    """Outcome of a remote command: exit code and captured output."""

    exit_code: int
    stdout: str
    stderr: str


@dataclass(frozen=True)
class GuildCall:
    """How to run one ``guild`` command on a host: the options of :meth:`GuildHost.run`."""

    env: Optional[Mapping[str, str]] = None
    stream: bool = False
    timeout: Optional[float] = None
    check: bool = False
    in_guild_home: bool = False
    merge_stderr: bool = False
    stdin: bool = False


class ConnectionLost(GuildError):
    """The connection to a host dropped while a command or a copy was going on.

    Callers that know what state the remote is left in (a run started, a copy
    half done) catch it and say so in their one line.
    """


Direction = Literal["put", "get"]
"""Which way :meth:`GuildHost.copy_tree` copies: ``put`` from here to the host, ``get`` back."""


Members = Optional[Sequence[str]]
"""The relative paths a copy is limited to, or None for everything."""


class HostConfig(Protocol):
    """What every kind's validated config has: the remote's name and its Guild home."""

    @property
    def name(self) -> str: ...

    @property
    def guild_home(self) -> str: ...


_C = TypeVar("_C", bound=HostConfig)


class GuildHost(abc.ABC, Generic[_C]):
    """A Guild home and its ``guild`` command, used as a context manager.

    A kind implements :meth:`connect`, :meth:`_run` and :meth:`_copy_tree`
    (and :meth:`close` when it holds something open). Paths given to
    :meth:`put_archive` and :meth:`get_archive` on the host's side are in
    the host's own terms (join them onto :attr:`guild_home`). Every failure
    is a single-line GuildError naming the remote.
    """

    def __init__(self, config: _C) -> None:
        self.config = config

    @property
    def name(self) -> str:
        """The remote's configured name."""
        return self.config.name

    @property
    def guild_home(self) -> str:
        """The host's Guild home, as the host spells it."""
        return self.config.guild_home

    def _error(self, message: str, exit_code: int = 1) -> GuildError:
        return GuildError("remote %s: %s" % (self.name, message), exit_code=exit_code)

    def _lost(self, detail: str) -> ConnectionLost:
        return ConnectionLost("remote %s: connection lost%s" % (self.name, ": " + detail if detail else ""))

    def __enter__(self) -> Self:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @abc.abstractmethod
    def connect(self) -> None:
        """Make the host ready: connect to it, or check it (no-op when ready)."""

    def close(self) -> None:
        """Let go of what :meth:`connect` opened (default: nothing)."""

    def run(
        self,
        args: Sequence[str],
        env: Optional[Mapping[str, str]] = None,
        stream: bool = False,
        timeout: Optional[float] = None,
        check: bool = False,
        in_guild_home: bool = False,
        merge_stderr: bool = False,
        stdin: bool = False,
    ) -> RemoteResult:
        """Run ``guild ARGS`` there with its Guild home.

        ``stream`` shows the output here as it is written (it may then not be
        captured); ``check`` raises on a non-zero exit; ``in_guild_home`` runs
        in the Guild home (relative paths in ARGS are relative to it);
        ``merge_stderr`` sends stderr to stdout, in order; ``stdin`` passes
        local input on (answers to prompts).
        """
        result = self._run(args, GuildCall(env, stream, timeout, check, in_guild_home, merge_stderr, stdin))
        if check and result.exit_code != 0:
            cmd = args[0] if args else ""
            raise self._error(
                "'guild %s' failed with exit code %d%s" % (cmd, result.exit_code, last_line(result.stderr)),
                exit_code=result.exit_code if result.exit_code > 0 else 1,
            )
        return result

    @abc.abstractmethod
    def _run(self, args: Sequence[str], call: GuildCall) -> RemoteResult:
        """Run ``guild ARGS`` as ``call`` says; a non-zero exit is returned (:meth:`run` checks it)."""

    def put_archive(self, local_dir: str, remote_dir: str, exclude: Iterable[str] = (), members: Members = None) -> None:
        """Copy the contents of local ``local_dir`` into the host's ``remote_dir``."""
        self._copy_tree("put", local_dir, remote_dir, list(exclude), members)

    def get_archive(self, remote_dir: str, local_dir: str, exclude: Iterable[str] = (), members: Members = None) -> None:
        """Copy the contents of the host's ``remote_dir`` into local ``local_dir``."""
        self._copy_tree("get", remote_dir, local_dir, list(exclude), members)

    def replace_dirs(self, staging: str, names: Sequence[str], dest_dir: str) -> None:
        """Move each of ``names`` from the host's ``staging`` into ``dest_dir``, replacing what is there.

        Then remove ``staging``. Paths are the host's own (as for :meth:`get_archive`).
        """
        raise self._error("replacing directories is not supported here")

    @abc.abstractmethod
    def _copy_tree(self, direction: Direction, src: str, dest: str, exclude: list[str], members: Members) -> None:
        """Copy the contents of ``src`` into ``dest`` (``direction`` says which side each is on).

        ``exclude`` holds glob patterns matched against paths relative to
        ``src`` (``*`` matches ``/``); a matching directory is skipped whole.
        ``members`` limits the copy to those relative paths. Existing files
        in ``dest`` are overwritten, none are deleted.
        """


def strerror(e: BaseException) -> str:
    """An exception's OS error text, else its message on one line, else its type name."""
    return getattr(e, "strerror", None) or one_line(e) or type(e).__name__


def one_line(e: object) -> str:
    """``str(e)`` with all whitespace runs collapsed to single spaces."""
    return " ".join(str(e).split())


def last_line(text: str) -> str:
    """``": <last non-blank line>"`` of ``text``, or ``""`` when there is none."""
    lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
    return ": %s" % lines[-1] if lines else ""
