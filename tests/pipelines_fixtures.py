"""Helpers for the pipelines/sweeps tests: run the real `guild` CLI in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass

SAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "samples", "projects")


@dataclass
class Result:
    rc: int
    out: str


def guild_env(home: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "GUILD_HOME": str(home),
            "PATH": os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", ""),
            "SYNC_RUN_OUTPUT": "1",
            "COLUMNS": "999",
        }
    )
    env.pop("FAIL_X", None)
    env.update(extra)
    return env


def guild(home: str, *args: str, cwd: str, timeout: float = 120, **env: str) -> Result:
    """Run ``guild ARGS`` in ``cwd``; stdout and stderr merged."""
    proc = subprocess.run(
        [sys.executable, "-m", "luigi_guild", *args],
        cwd=cwd,
        env=guild_env(home, **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
    )
    return Result(proc.returncode, proc.stdout)


def project(name: str) -> str:
    return os.path.join(SAMPLES, name)


def runs(home: str) -> list:
    """Runs under ``home`` (newest first) as luigi_guild Run objects."""
    from luigi_guild.store import query as runstore

    return runstore.list_runs(os.path.join(str(home), "runs"))


def trial_runs(home: str, op: str) -> list:
    return [r for r in runs(home) if r.op_name == op]
