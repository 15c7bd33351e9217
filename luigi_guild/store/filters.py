"""Run filters: operation globs, labels, tags, comments, marks, statuses and ``-F`` expressions.

A :class:`RunFilter` is plain data built from command options, so the same
filter can be applied locally or forwarded to a remote ``guild`` later.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterable

from luigi_guild.model.errors import GuildError
from luigi_guild.model.status import Status
from luigi_guild.store.rundir import Run

if TYPE_CHECKING:
    from datetime import datetime


# ``-S`` letters: -Sr running, -Sc completed, -Se error, -St terminated, -Sp pending, -Ss staged.
STATUS_CHARS = {
    "r": Status.RUNNING,
    "c": Status.COMPLETED,
    "e": Status.ERROR,
    "t": Status.TERMINATED,
    "p": Status.PENDING,
    "s": Status.STAGED,
}


@dataclass
class RunFilter:
    """What a run must look like to be selected. Empty fields do not filter."""

    ops: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    unlabeled: bool = False
    tags: list[str] = field(default_factory=list)
    status_in: set[str] = field(default_factory=set)
    status_out: set[str] = field(default_factory=set)
    marked: bool = False
    unmarked: bool = False
    comments: list[str] = field(default_factory=list)
    exprs: list[str] = field(default_factory=list)
    started: str = ""  # a time range (``-Fs``), see :mod:`luigi_guild.store.timerange`
    digest: str = ""  # a source code digest prefix (``-Fd``)
    _bounds: "tuple[datetime | None, datetime | None] | None" = field(
        default=None, init=False, repr=False, compare=False
    )

    def is_empty(self) -> bool:
        return not (
            self.ops or self.labels or self.unlabeled or self.tags or self.status_in or self.status_out
            or self.marked or self.unmarked or self.comments or self.exprs or self.started or self.digest
        )

    def check(self) -> "RunFilter":
        """Raise the syntax error of the first ``-F`` expression or the ``-Fs`` range that does not parse."""
        for expr in self.exprs:
            _compiled(expr)
        if self.started:
            self.started_bounds()
        return self

    def started_bounds(self) -> "tuple[datetime | None, datetime | None]":
        """``(start, end)`` of ``started`` from now, worked out once per filter."""
        if self._bounds is None:
            from luigi_guild.store import timerange

            self._bounds = timerange.bounds(self.started)
        return self._bounds


_EXPR_CACHE: dict[str, Callable[[Run], bool]] = {}


def _compiled(expr: str) -> Callable[[Run], bool]:
    found = _EXPR_CACHE.get(expr)
    if found is None:
        from luigi_guild.store import filterexpr

        found = _EXPR_CACHE[expr] = filterexpr.parse(expr)
    return found

    def __call__(self, run: Run) -> bool:
        return matches(run, self)


def parse_status_chars(chars: Iterable[str], cmd: str = "runs") -> set[str]:
    """Statuses named by ``-S`` letters; an unknown letter is an error."""
    statuses: set[str] = set()
    for group in chars:
        for c in group:
            status = STATUS_CHARS.get(c)
            if status is None:
                raise GuildError(
                    "unrecognized status char '%s' in option '-S'" % c,
                    hint="Try 'guild %s --help' for more information." % cmd,
                )
            statuses.add(status)
    return statuses


def match_op(ref: str, op: str) -> bool:
    """Whether operation ``op`` (as listed) matches filter ``ref``.

    ``^...`` or ``...$`` is a regular expression searched in ``op``. Otherwise
    ``ref`` and ``op`` are split into package, model and operation parts; every
    part ``ref`` gives must equal (or, with ``*``, glob-match) the same part.
    """
    if ref.startswith("^") or ref.endswith("$"):
        try:
            return re.search(ref, op) is not None
        except re.error:
            return False
    for want, have in zip(_op_parts(ref), _op_parts(op)):
        if not want:
            continue
        if not have:
            return False
        if ("*" in want or "?" in want or "[" in want) and fnmatch.fnmatchcase(have, want):
            continue
        if want != have:
            return False
    return True


def _op_parts(spec: str) -> tuple[str, str, str]:
    pkg, model = "", ""
    rest = spec
    if "/" in rest:
        pkg, rest = rest.split("/", 1)
    if ":" in rest:
        model, rest = rest.split(":", 1)
    return pkg, model, rest


def _match_label(want: str, label: str) -> bool:
    if want == "-":
        return not label
    return want in label


def _match_comment(want: str, run: Run) -> bool:
    """Whether any comment of ``run`` contains ``want`` in its body, user or host (any case).

    ``-`` selects runs without comments.
    """
    comments = run.get("comments")
    if want == "-":
        return not comments
    if not isinstance(comments, list):
        return False
    want = want.lower()
    for c in comments:
        if isinstance(c, dict) and any(want in str(c.get(k) or "").lower() for k in ("body", "user", "host")):
            return True
    return False


def matches(run: Run, f: RunFilter) -> bool:
    """Whether ``run`` passes every part of ``f``.

    Positive statuses are alternatives (any of them); ``--not-*`` statuses
    must all be avoided. Statuses are read last, as they cost the most.
    """
    if f.ops and not any(match_op(ref, run.op_name) for ref in f.ops):
        return False
    if f.labels or f.unlabeled:
        label = run.label.strip()
        if f.unlabeled and label:
            return False
        if f.labels and not any(_match_label(want, label) for want in f.labels):
            return False
    if f.tags:
        tags = run.get("tags") or []
        if not isinstance(tags, list) or not any(t in tags for t in f.tags):
            return False
    if f.marked or f.unmarked:
        marked = bool(run.get("marked"))
        if (f.marked and not marked) or (f.unmarked and marked):
            return False
    if f.comments and not any(_match_comment(want, run) for want in f.comments):
        return False
    if f.digest and not str(run.get("sourcecode_digest") or "").startswith(f.digest):
        return False
    if f.started:
        from luigi_guild.store import timerange

        if not timerange.contains(*f.started_bounds(), run.timestamp):
            return False
    if f.status_in or f.status_out:
        status = run.status
        if f.status_in and status not in f.status_in:
            return False
        if status in f.status_out:
            return False
    for expr in f.exprs:
        if not _compiled(expr)(run):
            return False
    return True


def apply(runs: Iterable[Run], f: RunFilter | None) -> list[Run]:
    """The runs passing ``f``, order kept."""
    if f is None or f.is_empty():
        return list(runs)
    return [r for r in runs if matches(r, f)]
