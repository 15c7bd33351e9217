"""Build Guild homes with many completed runs, written the way guildai 0.9 writes them.

Attribute files are written in place (``open(path, "w")``), as guildai does,
not through our atomic writer, so tests see runs "made by another tool".
Usable from tests and as a script::

    python tests/perf_fixtures.py HOME N [SCRIPT_DIR]
"""

from __future__ import annotations

import hashlib
import os
import shlex
import sys
from typing import Any, Callable

import yaml

ECHO_PY = "x = 1.0\ny = 2\nz = 'a'\n\nprint(x, y, z)\n"
BASE_US = 1_700_000_000_000_000  # a fixed epoch so listings are reproducible


def encode_attr(value: Any) -> str:
    """An attr file's text, as guildai writes it (safe_dump, block style, stripped, newline)."""
    text = yaml.safe_dump(value, default_flow_style=False, indent=2).strip()
    if text.endswith("\n..."):
        text = text[:-4]
    return text + "\n"


def write_attr(run_dir: str, name: str, value: Any) -> None:
    """Write one attr in place (guildai style: no temp file, no rename)."""
    with open(os.path.join(run_dir, ".guild", "attrs", name), "w") as f:
        f.write(encode_attr(value))


def write_in_place(path: str, text: str) -> None:
    """Rewrite a file without a rename (guildai's way), keeping the directory's mtime."""
    with open(path, "w") as f:
        f.write(text)


def script_opref(script_dir: str, script: str = "echo.py") -> str:
    """The opref line of a script operation (Guild's five fields, shell-quoted)."""
    return "script:%s '' '' %s" % (shlex.quote(script_dir), shlex.quote(script))


def write_run(
    runs_dir: str,
    run_id: str,
    opref: str,
    flags: dict[str, Any],
    started_us: int,
    exit_status: int | None = 0,
    label: str | None = None,
) -> str:
    """One run directory in Guild's layout; returns its path."""
    run_dir = os.path.join(runs_dir, run_id)
    os.makedirs(os.path.join(run_dir, ".guild", "attrs"))
    with open(os.path.join(run_dir, ".guild", "opref"), "w") as f:
        f.write(opref)
    if label is None:
        label = " ".join("%s=%s" % (k, v) for k, v in sorted(flags.items()))
    attrs: dict[str, Any] = {
        "id": run_id,
        "initialized": started_us - 1000,
        "started": started_us,
        "flags": flags,
        "user_flags": {},
        "cmd": [sys.executable, "-um", "guild.op_main", "echo"],
        "host": "bench",
        "user": "bench",
    }
    if label:
        attrs["label"] = label
    if exit_status is not None:
        attrs["exit_status"] = exit_status
        attrs["stopped"] = started_us + 500_000
    for name, value in attrs.items():
        write_attr(run_dir, name, value)
    with open(os.path.join(run_dir, ".guild", "output"), "w") as f:
        f.write("%s %s %s\n" % (flags.get("x"), flags.get("y"), flags.get("z")))
    return run_dir


def default_flags(i: int) -> dict[str, Any]:
    """Trial ``i``'s flags: run 0 has echo.py's defaults, the others differ in ``x``."""
    return {"x": 1.0 + i, "y": 2, "z": "a"}


def make_home(
    home: str,
    n: int,
    script_dir: str | None = None,
    flags_for: Callable[[int], dict[str, Any]] = default_flags,
) -> list[str]:
    """Create ``n`` completed runs of ``echo.py`` under ``home``; returns ids, oldest first.

    Run ``i`` started ``i`` seconds after a fixed epoch, so run 0 (the one
    with echo.py's default flags) is the oldest.
    """
    runs_dir = os.path.join(home, "runs")
    os.makedirs(runs_dir, exist_ok=True)
    script_dir = os.path.abspath(script_dir or os.path.join(home, "project"))
    os.makedirs(script_dir, exist_ok=True)
    echo = os.path.join(script_dir, "echo.py")
    if not os.path.exists(echo):
        with open(echo, "w") as f:
            f.write(ECHO_PY)
    opref = script_opref(script_dir)
    ids = []
    for i in range(n):
        run_id = hashlib.md5(b"run-%d" % i).hexdigest()  # reproducible, varied short ids
        write_run(runs_dir, run_id, opref, flags_for(i), BASE_US + i * 1_000_000)
        ids.append(run_id)
    return ids


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.stderr.write("usage: python tests/perf_fixtures.py HOME N [SCRIPT_DIR]\n")
        raise SystemExit(2)
    made = make_home(sys.argv[1], int(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else None)
    print("%d runs in %s" % (len(made), os.path.join(sys.argv[1], "runs")))
