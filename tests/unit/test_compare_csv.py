"""``compare --csv`` text: the joined fast rows equal what the csv module's writer writes."""

from __future__ import annotations

import csv
import io

from hypothesis import given, settings
from hypothesis import strategies as st

from luigi_guild.commands.comparecsv import csv_text

CELLS = st.one_of(
    st.none(),
    st.text(alphabet=st.sampled_from(list('ab ,"\n\r\t\\é')), max_size=6),
    st.integers(-1000, 1000),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.lists(st.integers(0, 3), max_size=2),
)


def _writer_text(rows: list[list]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue()


@settings(max_examples=400, deadline=None)
@given(st.lists(st.lists(CELLS, min_size=1, max_size=5), max_size=4))
def test_csv_text_is_what_the_csv_writer_writes(rows):
    assert csv_text(rows) == _writer_text(rows)


def test_csv_text_cases():
    rows = [["run", "loss"], ["a1", 0.1 + 0.2], ["b,2", None], ['q"', "x\ny"], [""], [None]]
    assert csv_text(rows) == 'run,loss\na1,0.30000000000000004\n"b,2",\n"q""","x\ny"\n""\n""\n'
    assert csv_text([]) == ""
