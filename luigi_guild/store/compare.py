"""Run comparison: columns by Guild's rules (core, op, user), cell values, sorting by a column.

The one place that turns runs and column specs into a table of raw values
(``guild compare``, ``guild api compare``, ``guild select --min/--max``, and
anything that ranks runs by a result). Formatting for the terminal or CSV is
the command's business.
"""

from __future__ import annotations

import operator
import time

from luigi_guild.model import colspec
from luigi_guild.model.colspec import Col
from luigi_guild.model.errors import GuildError
from luigi_guild.model.status import Status
from luigi_guild.model.table import format_timestamp
from luigi_guild.store import scalars as scalarstore
from luigi_guild.store.rundir import Run
from luigi_guild.store.scalars import Scalar

TYPE_CHECKING = False  # typing and dataclasses cost milliseconds to import: annotations only
if TYPE_CHECKING:
    from typing import Any, Callable, Sequence

    _Getter = Callable[[Run, dict, list[Scalar]], Any]
    _Plan = list[tuple[str, list[_Getter]]]

CORE_COLS = ".run,.operation,.started,.time,.status,.label"


class CompareOptions:
    """``guild compare``'s column options."""

    def __init__(
        self,
        cols: list[str] | None = None,  # ``-c`` specs (each may hold several columns)
        strict_cols: list[str] | None = None,  # ``-cc`` specs
        skip_core: bool = False,
        skip_op_cols: bool = False,
        extra_cols: bool = False,
        all_scalars: bool = False,
        skip_unchanged: bool = False,
        min_col: str | None = None,
        max_col: str | None = None,
        top: int | None = None,
        # ``id`` (full run id) instead of ``run`` as the first core column (``guild api compare``).
        full_ids: bool = False,
        # False leaves batch runs out (``guild compare`` without ``--include-batch``).
        include_batch: bool = True,
    ):
        self.cols = list(cols or [])
        self.strict_cols = list(strict_cols or [])
        self.skip_core = skip_core
        self.skip_op_cols = skip_op_cols
        self.extra_cols = extra_cols
        self.all_scalars = all_scalars
        self.skip_unchanged = skip_unchanged
        self.min_col = min_col
        self.max_col = max_col
        self.top = top
        self.full_ids = full_ids
        self.include_batch = include_batch


class Table:
    """A comparison: the header, one row of raw values per run, and the runs in row order."""

    def __init__(self, header: list[str], rows: list[list[Any]], runs: list[Run]):
        self.header = header
        self.rows = rows
        self.runs = runs

    def column(self, name: str) -> list[Any]:
        i = self.header.index(name)
        return [r[i] for r in self.rows]


class ColumnError(GuildError):
    """A column spec or sort column the table cannot use."""


def parse_specs(specs: Sequence[str], on_error: Callable[[str, colspec.ColSpecError], None] | None = None) -> list[Col]:
    """Columns of several specs; a bad spec goes to ``on_error`` (dropped) or raises ColumnError."""
    cols: list[Col] = []
    for spec in specs:
        try:
            cols.extend(colspec.parse(spec))
        except colspec.ColSpecError as e:
            if on_error is None:
                raise ColumnError("invalid column spec '%s': %s" % (spec, e)) from None
            on_error(spec, e)
    return cols


def is_batch(run: Run) -> bool:
    return run.is_batch


# ------------------------------------------------------------ cell values


def elapsed(run: Run, now_us: int | None = None) -> str:
    """``H:MM:SS`` from start to stop (to now while running); '' when unknown."""
    started = run.get("started")
    if not isinstance(started, int):
        return ""
    stopped = run.get("stopped")
    if not isinstance(stopped, int):
        if run.status != Status.RUNNING:
            return ""
        stopped = now_us or int(time.time() * 1_000_000)
    secs = max(0, (stopped - started) // 1_000_000)
    return "%d:%02d:%02d" % (secs // 3600, secs // 60 % 60, secs % 60)


def _opref_field(run: Run, field: str) -> Any:
    try:
        return getattr(run.opref, field) or None
    except (OSError, ValueError):
        return None


def _sourcecode(run: Run) -> Any:
    digest = run.get("sourcecode_digest")
    return digest[:8] if isinstance(digest, str) else None


# ``.name`` columns Guild derives rather than reads from the attr file of that name.
_ATTRS: dict[str, Callable[[Run], Any]] = {
    "id": lambda run: run.id,
    "run": lambda run: run.short_id,
    "short_id": lambda run: run.short_id,
    "operation": lambda run: run.op_name,
    "op": lambda run: run.op_name,
    "model": lambda run: _opref_field(run, "model_name"),
    "from": lambda run: _opref_field(run, "project_dir"),
    "sourcecode": _sourcecode,
    "started": lambda run: format_timestamp(run.get("started")) or None,
    "stopped": lambda run: format_timestamp(run.get("stopped")) or None,
    "status": lambda run: str(run.status),
    "time": lambda run: elapsed(run) or None,
    "label": lambda run: run.label,
    "marked": lambda run: True if run.get("marked") else None,
}


def attr_value(run: Run, name: str) -> Any:
    """``.name`` columns: Guild's index attrs, else the raw attr (missing -> None)."""
    derived = _ATTRS.get(name)
    return derived(run) if derived is not None else run.get(name)


def scalar_value(scalars: list[Scalar], col: Col) -> Any:
    s = scalarstore.find(scalars, col.name, col.prefix)
    if s is None:
        return None
    qual = col.qual or "last"
    return s.step(qual) if col.step else s.value(qual)


def cell(run: Run, col: Col, scalars: list[Scalar]) -> Any:
    if col.kind == "flag":
        return run.flags.get(col.name)
    if col.kind == "attr":
        return attr_value(run, col.name)
    return scalar_value(scalars, col)


# ------------------------------------------------------------ op columns


class _OpCols:
    """guild.yml ``compare:`` lists per operation (read from the current guild.yml, memoised)."""

    def __init__(self, on_error: Callable[[str, colspec.ColSpecError], None] | None):
        self.memo: dict[tuple[str, str], list[Col] | None] = {}
        self.on_error = on_error

    def declared(self, run: Run) -> list[Col] | None:
        try:
            opref = run.opref
        except (OSError, ValueError):
            return None
        if opref.pkg_type != "guildfile":
            return None
        key = (opref.pkg_name, opref.op_name if not opref.model_name else "%s:%s" % (opref.model_name, opref.op_name))
        if key not in self.memo:
            self.memo[key] = self._load(*key)
        return self.memo[key]

    def _load(self, path: str, opname: str) -> list[Col] | None:
        from luigi_guild.project import guildfile

        try:
            opdef = guildfile.find_op(path, opname)
        except GuildError:
            return None
        if opdef is None or opdef.compare is None:
            return None
        return parse_specs(opdef.compare, self.on_error or (lambda _s, _e: None))


def default_op_cols(run: Run, scalars: list[Scalar], all_scalars: bool) -> list[Col]:
    """``=FLAG`` per flag (sorted), a step column, then every scalar tag (sorted; ``sys/*`` only with -s)."""
    cols = [Col("flag", name) for name in sorted(run.flags)]
    tags = sorted({s.tag for s in scalars if all_scalars or not s.is_system})
    if tags:
        step_tag = "loss" if "loss" in tags else tags[0]
        cols.append(Col("scalar", step_tag, step=True, named_as="step"))
        cols.extend(Col("scalar", tag) for tag in tags)
    return cols


# ------------------------------------------------------------ the table

_TAG = operator.itemgetter(1)  # Scalar.tag


def _getter(col: Col) -> _Getter:
    """A function of (run, its flags, its scalars) giving ``col``'s value, as :func:`cell` does."""
    name = col.name
    if col.kind == "flag":
        return lambda _run, flags, _scalars: flags.get(name)
    if col.kind == "attr":
        derived = _ATTRS.get(name)
        if derived is not None:
            return lambda run, _flags, _scalars: derived(run)
        return lambda run, _flags, _scalars: run.get(name)
    if col.prefix is None and not col.step and col.qual in (None, "last"):
        # The common column (a tag's last value): the first row with the tag, as scalar_value finds it.
        def last(_run: Run, _flags: dict, scalars: list[Scalar]) -> Any:
            for s in scalars:
                if s.tag == name:
                    return s.last_val
            return None

        return last
    return lambda _run, _flags, scalars: scalar_value(scalars, col)


def _plan(cols: list[Col]) -> _Plan:
    """``cols`` grouped by header (first appearance order), each header with its columns' getters."""
    plan: dict[str, list[_Getter]] = {}
    for col in cols:
        plan.setdefault(col.header, []).append(_getter(col))
    return list(plan.items())



def build(
    runs: list[Run],
    opts: CompareOptions,
    warn: Callable[[str], None] | None = None,
    pending_scalars: Callable[[list[Run]], dict[str, list[Scalar]]] | None = None,
    preloaded: bool = False,
) -> Table:
    """The comparison table of ``runs`` (newest first), sorted and cut as ``opts`` says.

    ``pending_scalars``: what :func:`luigi_guild.store.scalars.started` gave, when the caller started
    getting them before listing ``runs`` (or :func:`luigi_guild.store.warm.runs_and_scalars`, whose
    runs are ``preloaded`` already).
    """

    def on_error(spec: str, e: colspec.ColSpecError) -> None:
        if warn:
            warn("error parsing '%s': %s" % (spec, e))

    if opts.cols and opts.strict_cols:
        raise ColumnError("--cols cannot be used with --strict-cols")
    strict = bool(opts.strict_cols)
    user_cols = parse_specs(opts.strict_cols) if strict else parse_specs(opts.cols, on_error)
    first = Col("attr", "id", named_as="id") if opts.full_ids else Col("attr", "run", named_as="run")
    if strict:
        core = [first]
    else:
        core = [first] if opts.skip_core else [first] + colspec.parse(CORE_COLS)[1:]
        if opts.extra_cols:
            core.append(Col("attr", "sourcecode"))
    from luigi_guild.store import query

    # Many runs' scalar index stamps are checked in a child process while the runs preload.
    pending = pending_scalars or scalarstore.started([r.path for r in runs])
    if not preloaded:
        runs = query.snapshot(runs)
    if not opts.include_batch:
        runs = [r for r in runs if not r.is_batch]
    op_source = _OpCols(on_error)
    all_scalars = pending(runs)
    core_plan = _plan(core)
    user_plan = _plan(user_cols)
    no_op_cols = opts.skip_op_cols or strict
    header: list[str] = []
    slot_of: dict[str, int] = {}
    # Per set of op columns: the sections' columns in order, each as (its header's slot, getters).
    programs: dict[Any, list[tuple[int, list[_Getter]]]] = {}
    rows: list[list[Any]] = []
    for run in runs:
        scalars = all_scalars[run.path]
        flags = run.flags
        if no_op_cols:
            key: Any = None
            declared = None
        else:
            declared = op_source.declared(run)
            if declared is not None:
                key = id(declared)  # the memoised list of its operation
            else:
                # Runs with the same flag names and scalar tags share their columns.
                key = (tuple(flags), tuple(map(_TAG, scalars)))
        program = programs.get(key)
        if program is None:
            if no_op_cols:
                op_plan: _Plan = []
            else:
                op_plan = _plan(declared if declared is not None else default_op_cols(run, scalars, opts.all_scalars))
            program = programs[key] = []
            for h, getters in core_plan + op_plan + user_plan:
                if h not in slot_of:
                    slot_of[h] = len(header)
                    header.append(h)
                program.append((slot_of[h], getters))
        # Within a section the first value that is not None counts; a later
        # section's value replaces an earlier one unless it is None.
        row: list[Any] = [None] * len(header)
        for slot, getters in program:
            for get in getters:
                v = get(run, flags, scalars)
                if v is not None:
                    row[slot] = v
                    break
        rows.append(row)
    width = len(header)
    for row in rows:
        if len(row) < width:  # made before later runs added columns
            row.extend([None] * (width - len(row)))
    table = Table(header, rows, list(runs))
    if opts.min_col or opts.max_col:
        _sort(table, opts.min_col or opts.max_col or "", descending=bool(opts.max_col))
    if opts.top is not None:
        table.rows = table.rows[: max(opts.top, 0)]
        table.runs = table.runs[: max(opts.top, 0)]
    if opts.skip_unchanged and len(table.rows) > 1:
        # Values compare as shown: a marked run's operation differs from an unmarked one's.
        shown = [
            [(v, bool(run.get("marked"))) if h == "operation" else _hashable(v) for h, v in zip(header, row)]
            for row, run in zip(table.rows, table.runs)
        ]
        keep = [i for i in range(len(header)) if i == 0 or len({r[i] for r in shown}) > 1]
        table.header = [header[i] for i in keep]
        table.rows = [[r[i] for i in keep] for r in table.rows]
    return table


def _hashable(v: Any) -> Any:
    try:
        hash(v)
        return v
    except TypeError:
        return repr(v)


def sort_key(v: Any) -> tuple:
    """Order values like Guild: numbers and bools numerically, same types directly, else by ``str()``."""
    if isinstance(v, (bool, int, float)):
        return (0, float(v), "")
    if isinstance(v, str):
        return (1, 0.0, v)
    return (1, 0.0, str(v))


def _sort(table: Table, name: str, descending: bool) -> None:
    if name not in table.header:
        raise ColumnError("unknown column '%s' (columns: %s)" % (name, ", ".join(table.header)))
    i = table.header.index(name)
    pairs = list(zip(table.rows, table.runs))
    present = [p for p in pairs if p[0][i] is not None]
    missing = [p for p in pairs if p[0][i] is None]
    present.sort(key=lambda p: sort_key(p[0][i]), reverse=descending)
    ordered = present + missing  # None last in both directions
    table.rows = [p[0] for p in ordered]
    table.runs = [p[1] for p in ordered]


# ------------------------------------------------------------ choosing by one column


def best_run(runs: list[Run], spec: str, maximize: bool) -> Run | None:
    """``select --min/--max``: the run with the smallest (largest) value of one column.

    Runs lacking the value count as smallest, as in Guild, so ``--min`` picks
    such a run when there is one; ties go to the newest run.
    """
    try:
        cols = colspec.parse(spec)
    except colspec.ColSpecError as e:
        raise ColumnError("invalid col spec '%s': %s" % (spec, e)) from None
    if len(cols) != 1:
        raise ColumnError("invalid col spec '%s': multiple cols not supported" % spec)
    col = cols[0]
    if not runs:
        return None
    scalars = scalarstore.for_runs(runs) if col.kind == "scalar" else {}
    vals = [(cell(r, col, scalars.get(r.path, [])), r) for r in runs]
    # A stable sort (reversed for --max, as Guild does): ties keep the listing order (newest first).
    vals.sort(key=lambda t: (0,) if t[0] is None else (1,) + sort_key(t[0]), reverse=maximize)
    return vals[0][1]


def ranked(runs: list[Run], spec: str, maximize: bool = False) -> list[tuple[Run, Any]]:
    """Runs that have a value for one column, best first (for pipelines and optimizers)."""
    cols = colspec.parse(spec)
    if len(cols) != 1:
        raise ColumnError("invalid col spec '%s': multiple cols not supported" % spec)
    col = cols[0]
    scalars = scalarstore.for_runs(runs) if col.kind == "scalar" else {}
    vals = [(r, cell(r, col, scalars.get(r.path, []))) for r in runs]
    present = [(r, v) for r, v in vals if v is not None]
    present.sort(key=lambda t: sort_key(t[1]), reverse=maximize)
    return present
