"""A Guild home reached from here: the few operations the shared remote flows need from it.

The SSH remote (:class:`luigi_guild.remote.ssh.RemoteHost`) and the local
remote (:class:`luigi_guild.remote.local_kind.LocalHome`) are both a
:class:`GuildHost`: something that runs *its* ``guild`` against *its* Guild
home and copies directory trees in and out. :mod:`luigi_guild.remote.actions`
builds ``run``, ``pull``, ``push`` and command forwarding on just that.

Also the small text helpers both use to turn failures into one-line messages.
Standard library only: no Fabric here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping, Optional, Protocol, Sequence


@dataclass(frozen=True)
class RemoteResult:
    """Outcome of a remote command: exit code and captured output."""

    exit_code: int
    stdout: str
    stderr: str


class GuildHost(Protocol):
    """A Guild home and its ``guild`` command, used as a context manager.

    Paths given to :meth:`put_archive` and :meth:`get_archive` on the host's
    side are in the host's own terms (join them onto :attr:`guild_home`).
    Every failure is a single-line GuildError naming the remote.
    """

    @property
    def name(self) -> str:
        """The remote's configured name."""
        ...

    @property
    def guild_home(self) -> str:
        """The host's Guild home, as the host spells it."""
        ...

    def __enter__(self) -> "GuildHost": ...

    def __exit__(self, *exc: object) -> None: ...

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
        ...

    def put_archive(
        self,
        local_dir: str,
        remote_dir: str,
        exclude: Iterable[str] = (),
        members: Optional[Sequence[str]] = None,
    ) -> None:
        """Copy the contents of local ``local_dir`` into the host's ``remote_dir``."""
        ...

    def get_archive(
        self,
        remote_dir: str,
        local_dir: str,
        exclude: Iterable[str] = (),
        members: Optional[Sequence[str]] = None,
    ) -> None:
        """Copy the contents of the host's ``remote_dir`` into local ``local_dir``."""
        ...


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
