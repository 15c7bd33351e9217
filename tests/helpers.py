"""Small helpers shared by the core tests: run the CLI, make projects."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass

ECHO_PY = '''\
x = 1.0
y = 2
z = "a"

print("%r %r %r" % (x, y, z))
'''

FAIL_PY = '''\
import sys

code = 1

if code == 1:
    raise Exception("FAIL")
elif code != 0:
    sys.stderr.write("FAIL\\n")
    sys.exit(code)
'''


@dataclass
class Result:
    """Outcome of one CLI call."""

    exit_code: int
    out: str
    err: str


def guild(*args: str, cwd: str, home: str, env: dict | None = None, timeout: float = 60) -> Result:
    """Run ``python -m luigi_guild ARGS`` with ``GUILD_HOME=home``."""
    full_env = dict(os.environ, GUILD_HOME=home, COLUMNS="999")
    full_env.update(env or {})
    proc = subprocess.run(
        [sys.executable, "-m", "luigi_guild", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def write_project(root: str, files: dict[str, str]) -> str:
    """Write ``files`` (name -> source) under ``root``; returns ``root``."""
    os.makedirs(root, exist_ok=True)
    for name, text in files.items():
        path = os.path.join(root, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(textwrap.dedent(text))
    return root


def run_dirs(home: str) -> list[str]:
    """Names of the entries under ``home/runs`` (hidden ones included)."""
    try:
        return sorted(os.listdir(os.path.join(home, "runs")))
    except FileNotFoundError:
        return []
