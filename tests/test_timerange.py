"""``-Fs/--started`` ranges: the same bounds and errors as guildai 0.9.0's parser, for one reference time."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import datetime

import pytest

from luigi_guild.store import timerange
from tests.guildai import guildai  # noqa: F401  (fixture)

REF = datetime(2026, 3, 31, 14, 37, 22, 5)  # a month's last day, a Tuesday

SPECS = [
    "today", "yesterday", "this minute", "this hour", "this day", "this week", "this month", "this year",
    "3 minutes ago", "2 hours ago", "1 day ago", "2 weeks ago", "3 months ago", "1 year ago", "12 months ago",
    "before today", "after yesterday", "before 3 weeks ago", "after this month",
    "before 2024-01-02", "after 2024-01-02 10:00", "after 7-1", "after 9:00", "24-3-4", "3-4 10:11:12",
    "10:11", "10:11:12", "between 1-1 and 4-30", "between 4-30 and 1-1", "between 10:00 and 15:00",
    "between today and 2 days ago", "last 30 min", "last 6 hours", "last day", "LAST 2 HR", "this years",
    # errors
    "foo", "last", "after", "between today", "today x", "3 days", "last 2 weeks", "5:", "1-2-3-4",
    "2-30", "this", "between 1-1 or 2-2", "mins ago",
]

_GUILD_SIDE = r"""
import json, sys
from datetime import datetime
from guild.timerange import trparse
ref = datetime.fromisoformat(sys.argv[1])
out = []
for spec in json.loads(sys.argv[2]):
    try:
        bounds = trparse.parser().parse(spec)(ref)
        out.append([b.isoformat() if b else None for b in bounds])
    except ValueError as e:
        out.append(str(e))
print(json.dumps(out))
"""


def _ours(spec: str) -> object:
    try:
        return [b.isoformat() if b else None for b in timerange.bounds(spec, REF)]
    except timerange.RangeError as e:
        return str(e)


def test_ranges_match_guildai(guildai: str) -> None:  # noqa: F811
    python = os.path.join(os.path.dirname(guildai), "python")
    proc = subprocess.run(
        [python, "-c", _GUILD_SIDE, REF.isoformat(), json.dumps(SPECS)], capture_output=True, text=True, timeout=120
    )
    theirs = json.loads(proc.stdout)
    assert [(s, _ours(s)) for s in SPECS] == list(zip(SPECS, theirs))


def test_bounds_and_membership() -> None:
    start, end = timerange.bounds("between 10:00 and 15:00", REF)
    assert (start, end) == (datetime(2026, 3, 31, 10, 0), datetime(2026, 3, 31, 15, 0))
    inside = int(datetime(2026, 3, 31, 14, 59, 59).timestamp() * 1000000)
    at_end = int(datetime(2026, 3, 31, 15, 0).timestamp() * 1000000)
    assert timerange.contains(start, end, inside)
    assert not timerange.contains(start, end, at_end)
    assert not timerange.contains(None, None, 0)  # a run that never started


@pytest.mark.parametrize("spec", ["", "   ", "next week"])
def test_bad_ranges_raise(spec: str) -> None:
    with pytest.raises(timerange.RangeError):
        timerange.bounds(spec, REF)
