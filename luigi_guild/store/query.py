"""The one run-query API: list, filter, select by RUN spec, needed matches, latest run of an operation.

Every question "which runs are there" and "which runs match this operation
(and these flags)" is answered here, from the run index
(:mod:`luigi_guild.store.index`). For many questions in one process (sweep
trials, Luigi ``complete()`` calls) :func:`shared_index` gives one index
object that answers each in about a dictionary lookup.
"""

from __future__ import annotations

import os

from luigi_guild.model import home
from luigi_guild.model.errors import GuildError, RunNotFound
from luigi_guild.model.status import Status
from luigi_guild.store.index import RunIndex
from luigi_guild.store.rundir import Run

TYPE_CHECKING = False  # typing costs ~10 ms to import: annotations only

if TYPE_CHECKING:
    from typing import Any, Iterable, Protocol, TypeVar

    from luigi_guild.model.opref import OpRef

    class _Selectable(Protocol):
        """What selection by RUN spec needs of a run (local runs and remote listings alike)."""

        @property
        def id(self) -> str: ...

        @property
        def short_id(self) -> str: ...

    R = TypeVar("R", bound=_Selectable)
    from luigi_guild.store.filters import RunFilter


def list_runs(root: str | None = None) -> list[Run]:
    """Every run under ``root`` (default: Guild home's runs dir), newest first.

    A directory is a run only when it holds ``.guild/opref``. The order comes
    from the run index (:mod:`luigi_guild.store.index`), checked against the run
    directories; the runs returned read their files afresh.
    """
    index = RunIndex.load(root)
    runs = index.runs()
    index.save()
    _listings[index.root] = index
    return _scoped(runs, root)


def parent_scope(root: str | None = None) -> set[str] | None:
    """Under a steps run that isolates its steps (``GUILD_RUNS_PARENT``): the ids of the
    runs linked in that run, the only runs its steps see (as under Guild); else None."""
    parent = os.environ.get("GUILD_RUNS_PARENT")
    if not parent:
        return None
    runs_root = os.path.realpath(root or home.runs_dir())
    parent_dir = os.path.join(runs_root, parent)
    try:
        names = os.listdir(parent_dir)
    except OSError:
        return set()
    scope = set()
    for name in names:
        real = os.path.realpath(os.path.join(parent_dir, name))
        if os.path.dirname(real) == runs_root:
            scope.add(os.path.basename(real))
    return scope


def _scoped(runs: list[Run], root: str | None) -> list[Run]:
    scope = parent_scope(root)
    return runs if scope is None else [r for r in runs if r.id in scope]


# The index of the latest listing per runs directory: the next :func:`snapshot`
# of that directory uses it (once), so the stamps the listing has just checked
# are not checked again and the index file is not loaded twice.
_listings: dict[str, RunIndex] = {}


def archive_runs(root: str) -> list[Run]:
    """The runs in an archive directory (``guild export``), newest first, read without the run index."""
    try:
        names = os.listdir(root)
    except OSError:
        return []
    runs = [
        Run(n, os.path.join(root, n))
        for n in names
        if not n.startswith(".") and os.path.isfile(os.path.join(root, n, ".guild", "opref"))
    ]
    return sort_runs(runs)


def filtered_runs(run_filter: "RunFilter | None" = None, deleted: bool = False) -> list[Run]:
    """Runs newest first, from the trash when ``deleted``, that pass ``run_filter``."""
    from luigi_guild.store import filters as runfilter

    root = home.trash_runs_dir() if deleted else home.runs_dir()
    return runfilter.apply(list_runs(root), run_filter)


def snapshot(runs: Iterable[Run], root: str | None = None) -> list[Run]:
    """``runs`` preloaded from the run index (values checked against their files' stamps).

    For one listing or table (``compare``): the runs answer ``started``,
    ``label``, ``flags``, ``exit_status``, status and opref without reading
    their files again. Runs outside ``root`` are returned as given.
    """
    index = _listings.pop(os.path.abspath(root or home.runs_dir()), None) or shared_index(root)
    shown = index.snapshot(runs)
    index.save()
    return shown


def sort_runs(runs: Iterable[Run]) -> list[Run]:
    """Newest first by ``started`` (fallback ``initialized``), then by id."""
    keyed = [(r.timestamp, r.id, r) for r in runs]
    keyed.sort(key=lambda t: (t[0], t[1]), reverse=True)
    return [t[2] for t in keyed]


def select(runs: list[R], specs: Iterable[str], cmd: str = "runs") -> list[R]:
    """Runs picked by ``specs`` from ``runs`` (already filtered and sorted), in list order.

    A spec is a 1-based index, a ``START:END`` slice, a full run id or an id prefix.
    """
    picked: dict[str, R] = {}
    for spec in specs:
        for run in _select_spec(runs, spec, cmd):
            picked.setdefault(run.id, run)
    order = {r.id: i for i, r in enumerate(runs)}
    return sorted(picked.values(), key=lambda r: order.get(r.id, 0))


def select_one(runs: list[Run], spec: str | None, cmd: str = "runs") -> Run:
    """One run by spec; the latest when ``spec`` is None."""
    if spec is None:
        if not runs:
            raise GuildError("no matching runs")
        return runs[0]
    matches = _select_spec(runs, spec, cmd)
    if len(matches) > 1:
        raise _ambiguous(spec, matches)
    if not matches:  # an empty slice such as ':0'
        raise not_found(spec, cmd)
    return matches[0]


def _select_spec(runs: list[R], spec: str, cmd: str) -> list[R]:
    if ":" in spec:
        start_s, _, end_s = spec.partition(":")
        try:
            start = int(start_s) if start_s else 1
            end = int(end_s) if end_s else len(runs)
        except ValueError:
            start = end = -1
        if start >= 0:
            return runs[max(start - 1, 0) : end]
    if spec.isdigit():
        index = int(spec)
        if 1 <= index <= len(runs):
            return [runs[index - 1]]
    exact = [r for r in runs if r.id == spec]
    if exact:
        return exact
    matches = [r for r in runs if r.id.startswith(spec)]
    if not matches:
        raise not_found(spec, cmd)
    if len(matches) > 1:
        raise _ambiguous(spec, matches)
    return matches


def not_found(spec: str, cmd: str) -> RunNotFound:
    if cmd == "run":  # --restart/--start: Guild's shorter hint
        return RunNotFound("could not find a run matching '%s'" % spec, hint="Try 'guild runs list' for a list.")
    return RunNotFound(
        "could not find a run matching '%s'" % spec,
        hint="Try 'guild runs list' for a list or 'guild %s --help' for more information." % cmd,
    )


def _ambiguous(spec: str, matches: list[R]) -> GuildError:
    return GuildError(
        "'%s' matches multiple runs:\n%s" % (spec, "\n".join("  %s" % r.short_id for r in matches))
    )


def marked_or_latest(opspec: str, root: str | None = None) -> Run | None:
    """The newest marked run of operation ``opspec`` (``op`` or ``model:op``), else its newest run.

    Only completed, running and terminated runs count, as in Guild.
    """
    model, sep, op = opspec.rpartition(":")
    latest: Run | None = None
    for run in list_runs(root):
        try:
            opref = run.opref
        except (OSError, ValueError):
            continue
        if opref.op_name != op or (sep and opref.model_name != model):
            continue
        if opref.pkg_type == "builtin":
            continue
        if run.status not in (Status.COMPLETED, Status.RUNNING, Status.TERMINATED):
            continue
        if run.get("marked"):
            return run
        if latest is None:
            latest = run
    return latest


def find_run(spec: str, cmd: str = "run") -> Run:
    """A run for ``--restart``/``--start``: a run dir path, else an operation name, else a unique id (prefix).

    An operation name gives its newest marked run, else its newest run
    (:func:`marked_or_latest`). Indexes are not accepted, as in Guild.
    """
    if spec.startswith((".", "/")) and os.path.isdir(os.path.join(spec, ".guild")):
        return Run.for_dir(spec)
    if spec and not spec.startswith(".") and "/" not in spec:
        by_op = marked_or_latest(spec)
        if by_op is not None:
            return by_op
    root = home.runs_dir()
    if not spec or spec.startswith(".") or "/" in spec:
        raise not_found(spec, cmd)
    if os.path.exists(os.path.join(root, spec, ".guild", "opref")):
        return Run(spec, os.path.join(root, spec))
    try:
        names = os.listdir(root)
    except (FileNotFoundError, NotADirectoryError):
        names = []
    matches = [
        Run(n, os.path.join(root, n))
        for n in names
        if n.startswith(spec) and os.path.exists(os.path.join(root, n, ".guild", "opref"))
    ]
    if not matches:
        raise not_found(spec, cmd)
    if len(matches) > 1:
        raise _ambiguous(spec, matches)
    return matches[0]


# ------------------------------------------------------------ matching runs


def needed(opref: OpRef, flags: dict[str, Any], root: str | None = None) -> list[Run]:
    """Guild's ``--needed`` matches: runs of ``opref`` with equal flags, completed or terminated, newest first."""
    index = RunIndex.load(root)
    found = index.needed(opref, flags)
    index.save()
    return _scoped(found, root)


def needed_for_new_run(opref: OpRef, flags: dict[str, Any], root: str | None = None) -> list[Run]:
    """What makes a new ``guild run --needed`` skip: runs of ``opref`` with equal flags that are
    completed, terminated, running or staged, newest first (Guild ignores error and pending runs)."""
    index = RunIndex.load(root)
    found = index.same(opref, flags, Status.NEEDED_MATCH)
    index.save()
    return _scoped(found, root)


def needed_many(queries: Iterable[tuple[OpRef, dict[str, Any]]], root: str | None = None) -> list[list[Run]]:
    """:func:`needed` for many (opref, flags) pairs with one pass over the runs."""
    index = RunIndex.load(root)
    found = [_scoped(index.needed(opref, flags), root) for opref, flags in queries]
    index.save()
    return found


def same_runs(opref: OpRef, flags: dict[str, Any], root: str | None = None) -> list[Run]:
    """Runs of ``opref`` with equal flags whatever their status, newest first."""
    index = RunIndex.load(root)
    found = index.same(opref, flags)
    index.save()
    return _scoped(found, root)


def latest_of_operation(opref: OpRef, root: str | None = None, id_prefix: str = "") -> Run | None:
    """The run a dependency on ``opref``'s operation resolves to: completed or terminated, any flags.

    The newest marked such run (``guild mark``) wins; else the newest. This
    is how Guild resolves ``requires: - operation: NAME`` (the guild.yml
    digest in the opref is not compared). ``id_prefix`` narrows the choice
    to runs whose id starts with it (the user picked the upstream run).
    """
    if parent_scope(root) is not None:  # a step of an isolating steps run: its linked runs only
        usable = [r for r in list_runs(root) if r.id.startswith(id_prefix) and _of_operation(r, opref)
                  and r.status in Status.AVAILABLE]
        return next((r for r in usable if r.get("marked")), usable[0] if usable else None)
    marked = _marked_of_operation(opref, root, id_prefix)
    if marked is not None:
        return marked
    return shared_index(root).latest_of_operation(opref, Status.AVAILABLE, id_prefix)


def _of_operation(run: Run, opref: OpRef) -> bool:
    try:
        return run.opref.same_operation(opref)
    except (OSError, ValueError):
        return False


def _marked_of_operation(opref: OpRef, root: str | None, id_prefix: str) -> Run | None:
    """The newest marked, available run of ``opref``'s operation (one stat per run finds the marked ones)."""
    root = os.path.abspath(root or home.runs_dir())
    try:
        names = os.listdir(root)
    except OSError:
        return None
    found = []
    for name in names:
        if name.startswith(id_prefix) and not name.startswith(".") and os.path.exists(
            os.path.join(root, name, ".guild", "attrs", "marked")
        ):
            run = Run(name, os.path.join(root, name))
            try:
                same = run.opref.same_operation(opref)
            except (OSError, ValueError):
                continue
            if same and run.get("marked") and run.status in Status.AVAILABLE:
                found.append(run)
    return sort_runs(found)[0] if found else None


def runs_of_operation(opref: OpRef, root: str | None = None) -> list[Run]:
    """Completed or terminated runs of ``opref``'s operation, any flags, newest first."""
    out = []
    for run in list_runs(root):
        try:
            if not run.opref.same_operation(opref):
                continue
        except (OSError, ValueError):
            continue
        if run.status in Status.AVAILABLE:
            out.append(run)
    return out


def matching_batches(
    batch_opref: OpRef, batch_flags: dict[str, Any], proto_opref: OpRef, proto_flags: dict[str, Any],
    root: str | None = None,
) -> list[Run]:
    """Kept batch runs a sweep's ``--needed`` matches, newest first (Guild's rule).

    A batch matches when its operation (any guildai version) and own flags
    equal the sweep's, and its ``.guild/proto`` names the same operation
    with the same unexpanded flags. As Guild decides it, every status but
    ``error`` and ``pending`` counts: a completed, terminated, running or
    staged batch matches.
    """
    from luigi_guild.model.flagid import flags_equal

    out = []
    for run in list_runs(root):
        try:
            if not run.opref.same_operation(batch_opref) or run.status not in Status.NEEDED_MATCH:
                continue
            proto_dir = run.guild_path("proto")
            if not os.path.isdir(proto_dir) or not flags_equal(run.flags, batch_flags):
                continue
            proto = Run.for_dir(proto_dir)
            if proto.opref == proto_opref and flags_equal(proto.flags, proto_flags):
                out.append(run)
        except (OSError, ValueError):
            continue
    return out


_shared: dict[str, RunIndex] = {}


def shared_index(root: str | None = None) -> RunIndex:
    """A process-wide run index for ``root``, for many queries in one process.

    Its :meth:`~RunIndex.needed` and :meth:`~RunIndex.same` see runs added or
    removed at once; call :meth:`~RunIndex.refresh` to see other changes.
    """
    import os

    root = os.path.abspath(root or home.runs_dir())
    index = _shared.get(root)
    if index is None:
        import atexit

        index = _shared[root] = RunIndex.load(root)
        atexit.register(index.save)  # what this process read helps the next one (a Luigi build, a listing)
    return index
