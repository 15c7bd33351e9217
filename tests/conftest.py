"""Shared pytest configuration: Markdown doc tests (``mdtest.py``), a real sshd (``sshd.py``), a real Slurm (``slurm.py``), an HTTP server (``httpfiles.py``), guildai (``guildai.py``)."""

from guildai import guildai  # noqa: F401  (fixture: guildai 0.9.0 for interop tests)
from sshd import *  # noqa: F401,F403  (fixtures: sshd_server, guild_uat_remote)
from slurm import *  # noqa: F401,F403  (fixtures: slurm_cluster, slurm_remote)
from httpfiles import *  # noqa: F401,F403  (fixture: http_files)

pytest_plugins = ["mdtest", "pytester"]

# Fixtures each verbatim spec document needs (spec docs cannot carry a header).
SPEC_DOC_FIXTURES: dict[str, list[str]] = {"remote-status.md": ["guild_uat_remote"]}
