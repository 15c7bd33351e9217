"""Trial flag values: flag functions, grid products, batch files, and the sweep spec.

A flag value that is a list (grid) or a flag function (``[a:b]``,
``uniform[a:b]``, ``loguniform[a:b]``: random search) makes a sweep; so do
batch files (CSV, YAML or JSON rows of flag values) and ``--optimizer``.

A plain ``guild run`` imports this module to ask :func:`is_sweep`, so
``csv``, ``json``, ``random`` and PyYAML are imported only where they are used.
"""

from __future__ import annotations

import itertools
import math
import os
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from luigi_guild.model import flags as flagslib
from luigi_guild.model.errors import GuildError

if TYPE_CHECKING:
    import random
    from collections.abc import Iterator

_FUNC_RE = re.compile(r"^\s*([a-zA-Z_]\w*)?\[([^\]:]*):([^\]:]*)(?::([^\]]*))?\]\s*$")


def is_function(val: Any) -> bool:
    return isinstance(val, str) and bool(_FUNC_RE.match(val))


def is_sweep(flags: dict[str, Any], batch_files: list[str] | None = None, optimizer: str | None = None) -> bool:
    """Whether these flag values (or options) make a batch of trials rather than one run."""
    if batch_files or optimizer:
        return True
    return any(isinstance(v, list) or is_function(v) for v in flags.values())


def flags_desc(flags: dict[str, Any]) -> str:
    """``name=val`` pairs of non-null flags, sorted, comma-separated (trial log lines)."""
    return ", ".join("%s=%s" % (k, flagslib.format_val(flags[k])) for k in sorted(flags) if flags[k] is not None)


def grid(flags: dict[str, Any]) -> list[dict[str, Any]]:
    """The cartesian product of list values: by flag name, then value order."""
    return list(iter_grid(flags))


def iter_grid(flags: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """:func:`grid`, one trial at a time."""
    names = sorted(flags)
    axes = [flags[n] if isinstance(flags[n], list) else [flags[n]] for n in names]
    return (dict(zip(names, combo)) for combo in itertools.product(*axes))


def grid_size(flags: dict[str, Any]) -> int:
    """``len(grid(flags))``, without making the trials."""
    return math.prod(len(v) if isinstance(v, list) else 1 for v in flags.values())


def _number(text: str, func: str) -> int | float:
    text = text.strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        raise GuildError("invalid flag function %s: '%s' is not a number" % (func, text)) from None


def parse_function(val: str) -> tuple[str, int | float, int | float, Any]:
    """``name[low:high:init]`` -> (name, low, high, init or None); ``[a:b]`` is ``uniform``."""
    m = _FUNC_RE.match(val)
    if not m:
        raise GuildError("invalid flag function %s" % val)
    name = (m.group(1) or "uniform").lower()
    low, high = _number(m.group(2), val), _number(m.group(3), val)
    init = flagslib.decode_untyped(m.group(4).strip()) if m.group(4) and m.group(4).strip() else None
    return name, low, high, init


def sample(val: Any, rng: random.Random) -> Any:
    """One random value for a flag: a function is sampled, a list picked from, a scalar kept."""
    if isinstance(val, list):
        return rng.choice(val) if val else None
    if not is_function(val):
        return val
    m = _FUNC_RE.match(val)
    assert m is not None
    name = (m.group(1) or "uniform").lower()
    low, high = _number(m.group(2), val), _number(m.group(3), val)
    if low > high:
        raise GuildError("invalid flag function %s: lower bound is greater than upper bound" % val)
    if name == "uniform":
        if isinstance(low, int) and isinstance(high, int):
            return rng.randint(low, high)
        return rng.uniform(low, high)
    if name == "loguniform":
        if low <= 0:
            raise GuildError("invalid flag function %s: loguniform bounds must be greater than 0" % val)
        return math.exp(rng.uniform(math.log(low), math.log(high)))
    raise GuildError("unsupported flag function '%s' in %s" % (name, val), hint="Use [a:b], uniform[a:b] or loguniform[a:b].")


def random_trials(flags: dict[str, Any], count: int, seed: int) -> list[dict[str, Any]]:
    """``count`` trials sampled with ``random.Random(seed)``, flags in name order."""
    return list(iter_random_trials(flags, count, seed))


def iter_random_trials(flags: dict[str, Any], count: int, seed: int) -> Iterator[dict[str, Any]]:
    """:func:`random_trials`, one trial at a time (each sampled when it is asked for)."""
    import random  # here, not at the top: a plain `guild run` checks is_sweep and should not pay for it

    rng = random.Random(seed)
    names = sorted(flags)
    for _ in range(count):
        yield {n: sample(flags[n], rng) for n in names}


def read_batch_file(path: str) -> list[dict[str, Any]]:
    """Trials from a CSV (header = flag names), YAML or JSON file (a list of mappings)."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise GuildError("cannot read batch file %s: %s" % (path, e.strerror)) from None
    ext = os.path.splitext(path)[1].lower()
    if ext == ".csv":
        import csv

        reader = csv.reader(text.splitlines())
        rows = list(reader)
        if not rows:
            return []
        header = [h.strip() for h in rows[0]]
        trials: list[dict[str, Any]] = []
        for row in rows[1:]:
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise GuildError(
                    "invalid batch file %s: row %d has %d values, expected %d"
                    % (path, len(trials) + 2, len(row), len(header))
                )
            trials.append({h: flagslib.decode_untyped(cell.strip()) for h, cell in zip(header, row)})
        return trials
    if ext in (".yml", ".yaml", ".json"):
        try:
            if ext == ".json":
                import json

                data = json.loads(text)
            else:
                import yaml

                data = yaml.safe_load(text)
        except Exception as e:
            raise GuildError("invalid batch file %s: %s" % (path, str(e).splitlines()[0])) from None
        if isinstance(data, dict):
            data = [data]
        if not isinstance(data, list) or not all(isinstance(t, dict) for t in data):
            raise GuildError("invalid batch file %s: expected a list of flag mappings" % path)
        return [dict(t) for t in data]
    raise GuildError("unsupported batch file %s: use .csv, .yaml, .yml or .json" % path)


@dataclass
class SweepSpec:
    """How trials are generated: ``optimizer`` is a name (see :mod:`luigi_guild.sweeps.optimizers`)."""

    optimizer: str | None = None
    max_trials: int | None = None
    random_seed: int | None = None
    batch_files: list[str] = field(default_factory=list)
    # The rows of the batch files once read (a restarted batch: its prototype's ``trials``).
    trial_rows: list[dict[str, Any]] | None = None
    # Optimizers that learn: their checked flags, and the objective (an ``objective.Objective``; None: ``loss``).
    opt_flags: dict[str, Any] = field(default_factory=dict)
    objective: Any = None


def trial_table(trials: list[dict[str, Any]]) -> list[list[str]]:
    """``--print-trials``: a header ``#`` + every flag name (sorted), then one numbered row per trial."""
    names = sorted({name for trial in trials for name in trial})
    rows = [["#"] + names]
    for i, trial in enumerate(trials, 1):
        rows.append([str(i)] + [flagslib.encode_arg(trial[n]) if n in trial else "" for n in names])
    return rows


def check_trials_path(path: str) -> str:
    """The format ``--save-trials PATH`` writes (``csv`` or ``json``); a GuildError for other extensions."""
    ext = os.path.splitext(path)[1].lower()
    if ext in ("", ".csv"):
        return "csv"
    if ext == ".json":
        return "json"
    raise GuildError("Unsupported extension '%s' - use '.csv', '.json', or no extension" % ext)


def save_trials(path: str, trials: list[dict[str, Any]]) -> None:
    """Write ``trials`` to ``path``: CSV (header of sorted flag names) or one line of JSON, per the extension."""
    kind = check_trials_path(path)
    names = sorted({name for trial in trials for name in trial})
    try:
        with open(path, "w", newline="", encoding="utf-8") as f:
            if kind == "json":
                import json

                json.dump(trials, f, sort_keys=True)
            else:
                import csv

                writer = csv.writer(f, lineterminator="\n")
                writer.writerow(names)
                for trial in trials:
                    writer.writerow([flagslib.encode_arg(trial[n]) if n in trial else "" for n in names])
    except OSError as e:
        raise GuildError("cannot write trials to %s: %s" % (path, e.strerror or e)) from None
