"""Real guildai 0.9.0 for interop tests: its ``guild``, from the venv ``make test-deps`` builds.

The venv (``benchmarks/.guildai-venv``, shared with the benchmarks) holds
guildai 0.9.0 as published. Tests that need it use the ``guildai`` fixture,
which skips with the reason when the venv could not be built.
"""

from __future__ import annotations

import os
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GUILDAI_VENV = os.environ.get("GUILDAI_VENV") or os.path.join(ROOT, "benchmarks", ".guildai-venv")


def guildai_exe() -> str | None:
    """guildai's ``guild`` when it is installed and answers ``--version`` as 0.9.0, else None."""
    exe = os.path.join(GUILDAI_VENV, "bin", "guild")
    if not os.path.exists(exe):
        return None
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    return exe if "0.9.0" in out else None


@pytest.fixture(scope="session")
def guildai() -> str:
    """Path of guildai 0.9.0's ``guild`` (the test is skipped when it is not installed)."""
    exe = guildai_exe()
    if exe is None:
        pytest.skip("guildai 0.9.0 is not installed in %s (make test-deps installs it)" % GUILDAI_VENV)
    return exe
