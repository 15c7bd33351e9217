"""Run filter options shared by the commands that select runs."""

from __future__ import annotations

from typing import Any, Callable, Iterable

import click

from luigi_guild.model.errors import GuildError
from luigi_guild.store import filters as runfilter
from luigi_guild.store import query as runstore
from luigi_guild.store.rundir import Run

# (status, -S letter) in the order options are listed.
_STATUS_OPTS = [(str(status), char) for char, status in runfilter.STATUS_CHARS.items()]

FILTER_PARAMS = (
    ["filter_ops", "filter_labels", "filter_unlabeled", "filter_tags", "filter_comments", "filter_marked"]
    + ["filter_unmarked", "filter_exprs", "filter_started", "filter_digest", "status_chars"]
    + ["status_%s" % s for s, _ in _STATUS_OPTS]
)


def filter_options(f: Callable) -> Callable:
    """Add ``-F``, ``-Fo``, ``-Fl``, ``-Fu``, ``-Ft``, ``-Fc``, ``-Fm``, ``-Fn``, the status filters and ``-S``."""
    return _filter_options(f, status_letters=True)


def filter_options_no_s(f: Callable) -> Callable:
    """:func:`filter_options` without ``-S CHARS``, for commands where Guild gives ``-S`` another meaning."""
    return _filter_options(f, status_letters=False)


def _filter_options(f: Callable, status_letters: bool) -> Callable:
    opts = [
        click.option(
            "-F", "--filter", "filter_exprs", metavar="EXPR", multiple=True,
            help="Filter runs by expression, e.g. \"lr >= 0.01 and status = completed\" (see 'Filter expressions').",
        ),
        click.option(
            "-Fo", "--operation", "filter_ops", metavar="VAL", multiple=True,
            help="Filter runs by operation: a glob over package/model:op parts, or a regex with ^ or $.",
        ),
        click.option(
            "-Fl", "--label", "filter_labels", metavar="VAL", multiple=True,
            help="Filter runs whose label contains VAL ('-' selects unlabeled runs).",
        ),
        click.option("-Fu", "--unlabeled", "filter_unlabeled", is_flag=True, help="Filter runs without a label."),
        click.option("-Ft", "--tag", "filter_tags", metavar="TAG", multiple=True, help="Filter runs with TAG."),
        click.option(
            "-Fc", "--comment", "filter_comments", metavar="VAL", multiple=True,
            help="Filter runs with a comment containing VAL (in its text, user or host; any case).",
        ),
        click.option("-Fm", "--marked", "filter_marked", is_flag=True, help="Filter marked runs."),
        click.option("-Fn", "--unmarked", "filter_unmarked", is_flag=True, help="Filter runs that are not marked."),
        click.option(
            "-Fs", "--started", "filter_started", metavar="RANGE",
            help="Filter runs started within RANGE: 'today', 'yesterday', 'this week|month|year', "
            "'last N minutes|hours|days', 'N days|weeks|months|years ago', 'after DATETIME', "
            "'before DATETIME', 'between DATETIME and DATETIME' (DATETIME: [[YY]YY-]M-D and/or H:MM[:SS]; "
            "quote RANGE when it has spaces).",
        ),
        click.option(
            "-Fd", "--digest", "filter_digest", metavar="VAL",
            help="Filter runs whose source code digest starts with VAL.",
        ),
    ]
    for status, char in _STATUS_OPTS:
        # One flag pair per status, so the last of `--error`/`--not-error` given wins, as in Guild.
        opts.append(
            click.option(
                "-S" + char, "--%s/--not-%s" % (status, status), "status_" + status, default=None,
                help="Filter %s runs (--not-%s: runs that are not %s)." % (status, status, status),
            )
        )
    if status_letters:
        opts.append(
            click.option(
                "-S", "status_chars", metavar="CHARS", multiple=True,
                help="Filter by status letters combined, e.g. -Sec for error or completed "
                "(r=running c=completed e=error t=terminated p=pending s=staged).",
            )
        )
    for opt in reversed(opts):
        f = opt(f)
    return f


def pop_filter(kw: dict[str, Any], cmd: str = "runs") -> runfilter.RunFilter:
    """Remove the filter options from ``kw`` and build a :class:`RunFilter`."""
    vals = {name: kw.pop(name, None) for name in FILTER_PARAMS}
    status_out = {s for s, _ in _STATUS_OPTS if vals["status_" + s] is False}
    status_in = {s for s, _ in _STATUS_OPTS if vals["status_" + s]}
    status_in |= runfilter.parse_status_chars(vals["status_chars"] or (), cmd) - status_out
    run_filter = runfilter.RunFilter(
        ops=list(vals["filter_ops"] or ()),
        labels=list(vals["filter_labels"] or ()),
        unlabeled=bool(vals["filter_unlabeled"]),
        tags=list(vals["filter_tags"] or ()),
        status_in=status_in,
        status_out=status_out,
        marked=bool(vals["filter_marked"]),
        unmarked=bool(vals["filter_unmarked"]),
        comments=list(vals["filter_comments"] or ()),
        exprs=list(vals["filter_exprs"] or ()),
        started=vals["filter_started"] or "",
        digest=vals["filter_digest"] or "",
    )
    from luigi_guild.store.timerange import RangeError

    try:
        return run_filter.check()
    except RangeError as e:
        ctx = click.get_current_context(silent=True)
        path = ctx.command_path if ctx is not None else "guild " + cmd
        raise GuildError(
            "invalid RANGE: %s" % e, hint="Try '%s --help' for help specifying time ranges." % path
        ) from None


def selected_runs(
    kw: dict[str, Any],
    specs: tuple[str, ...] | list[str],
    default: list[str],
    cmd: str,
    deleted: bool = False,
) -> list[Run]:
    """Filter (popping filter options from ``kw``) then select by RUN specs (or ``default``)."""
    run_filter = pop_filter(kw, cmd.split()[0])
    runs = runstore.filtered_runs(run_filter, deleted=deleted)
    specs = _dedup(specs or default)
    if specs == [":"]:
        return runs
    return runstore.select(runs, specs, cmd)


def selected_from(
    kw: dict[str, Any], runs: list[Run], specs: tuple[str, ...] | list[str], default: list[str], cmd: str
) -> list[Run]:
    """Like :func:`selected_runs`, over ``runs`` (e.g. an archive's) instead of Guild home's."""
    runs = runfilter.apply(runs, pop_filter(kw, cmd.split()[0]))
    specs = _dedup(specs or default)
    if specs == [":"]:
        return runs
    return runstore.select(runs, specs, cmd)


def one_run(kw: dict[str, Any], spec: str | None, cmd: str) -> Run:
    """One run from the filtered list: ``spec`` or the latest."""
    run_filter = pop_filter(kw, cmd.split()[0])
    runs = runstore.filtered_runs(run_filter)
    return runstore.select_one(runs, spec, cmd)


def _dedup(vals: Iterable[str]) -> list[str]:
    out: list[str] = []
    for v in vals:
        if v not in out:
            out.append(v)
    return out
