"""What ``guild diff`` compares: pairs of paths from two runs (or a run and a directory), and the diff program."""

from __future__ import annotations

import os
import re
import shutil

from luigi_guild.store.rundir import Run

TYPE_CHECKING = False  # typing costs ~10 ms to import: annotations only
if TYPE_CHECKING:
    from typing import Any

DEFAULT_CMD = "diff -ru"
# Tried in order when neither -c nor the user config names a program (as Guild does on Linux).
CANDIDATES = ("meld", "xxdiff -r", "dirdiff", "colordiff")


def sourcecode_dest(run: Run) -> str:
    """Where the run's copy of the project source lives (``op.sourcecode.dest``, else the run dir)."""
    op = run.get("op")
    dest = None
    if isinstance(op, dict):
        sourcecode = op.get("sourcecode")
        if isinstance(sourcecode, dict):
            dest = sourcecode.get("dest")
    return os.path.join(run.path, str(dest)) if dest else run.path


def working_dir(run: Run) -> str | None:
    """The project directory the run's source was copied from (the script's dir for scripts)."""
    try:
        opref = run.opref
    except (OSError, ValueError):
        return None
    root = run.get("op", {}).get("sourcecode", {}).get("root") if isinstance(run.get("op"), dict) else None
    project = opref.project_dir
    if project and isinstance(root, str) and root:
        return os.path.join(project, root)
    return project or None


def run_pairs(
    run: Run,
    other: Run,
    paths: list[str],
    attrs: bool = False,
    env: bool = False,
    flags: bool = False,
    deps: bool = False,
    output: bool = False,
    sourcecode: bool = False,
) -> list[tuple[str, str]]:
    """The ``(path, other path)`` pairs to diff for two runs, in Guild's order."""
    pairs: list[tuple[str, str]] = []
    if attrs:
        pairs.append((run.guild_path("attrs"), other.guild_path("attrs")))
    else:
        for wanted, name in ((env, "env"), (flags, "flags"), (deps, "deps")):
            if wanted:
                pairs.append((run.attr_path(name), other.attr_path(name)))
    if output:
        pairs.append((run.guild_path("output"), other.guild_path("output")))
    if sourcecode:
        a, b = sourcecode_dest(run), sourcecode_dest(other)
        pairs += [(os.path.join(a, p), os.path.join(b, p)) for p in paths] if paths else [(a, b)]
    else:
        pairs += [(os.path.join(run.path, p), os.path.join(other.path, p)) for p in paths]
    return pairs or [(run.path, other.path)]


def dir_pairs(path: str, other: str, paths: list[str]) -> list[tuple[str, str]]:
    """Pairs for a run (or its source) against a directory: the dirs, or each ``-p`` path in both."""
    if paths:
        return [(os.path.join(path, p), os.path.join(other, p)) for p in paths]
    return [(path, other)]


def diff_command(path: str, given: str | None, config: dict[str, Any]) -> str:
    """The diff program for ``path``: ``-c``, else the user config's ``diff: command:``, else a default.

    ``command`` in the config is a string, or a mapping of file extensions
    (or regular expressions over them) to commands with a ``default`` entry.
    """
    if given:
        return given
    section = config.get("diff") if isinstance(config, dict) else None
    configured = section.get("command") if isinstance(section, dict) else None
    if isinstance(configured, str):
        return configured
    if isinstance(configured, dict):
        ext = os.path.splitext(path)[1]
        for pattern, cmd in configured.items():
            if pattern == "default":
                continue
            if ext == pattern or _search(str(pattern), ext):
                return str(cmd)
        if configured.get("default"):
            return str(configured["default"])
    if os.path.splitext(path)[1] == ".ipynb" and shutil.which("nbdiff-web"):
        return "nbdiff-web -M"
    for cmd in CANDIDATES:
        if shutil.which(cmd.split()[0]):
            return cmd
    return DEFAULT_CMD


def _search(pattern: str, ext: str) -> bool:
    try:
        return re.search(pattern, ext) is not None
    except re.error:
        return False
