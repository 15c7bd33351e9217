"""Plain-text tables the way Guild prints them."""

from __future__ import annotations

import time

TYPE_CHECKING = False  # typing costs ~10 ms to import: annotations only
if TYPE_CHECKING:
    from typing import Sequence


def format_table(rows: Sequence[Sequence[str]], indent: str = "") -> list[str]:
    """Left-justify each column but the last to its widest cell plus two spaces."""
    if not rows:
        return []
    ncols = max(len(r) for r in rows)
    widths = [0] * ncols
    for row in rows:
        for i, cell in enumerate(row[:-1]):
            widths[i] = max(widths[i], len(cell))
    lines = []
    for row in rows:
        cells = [cell.ljust(widths[i] + 2) if i < len(row) - 1 else cell for i, cell in enumerate(row)]
        lines.append((indent + "".join(cells)).rstrip())
    return lines


def format_timestamp(us: int | None) -> str:
    """Microseconds since the epoch as local ``YYYY-MM-DD HH:MM:SS`` ('' when unknown or invalid)."""
    if not us:
        return ""
    try:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(us // 1_000_000))
    except (TypeError, ValueError, OverflowError, OSError):  # a damaged attr: show nothing
        return ""
