"""Plan and apply copying a run's files back into a project directory (``guild merge``)."""

from __future__ import annotations

import fnmatch
import filecmp
import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from typing import Any, Callable

from luigi_guild.model.errors import GuildError
from luigi_guild.store import manifest
from luigi_guild.store.rundir import Run

# Why a file is not copied, as ``--preview`` words it.
SKIP_REASONS = {
    "other": "non-project file",
    "unchanged": "unchanged",
    "npd": "non-project dependency",
    "deps": "skipped dependency",
    "source": "skipped source code",
    "excluded": "excluded",
}


@dataclass
class Copy:
    kind: str  # s (source code), d (project-local dependency), o (other run file)
    run_path: str
    target_path: str


@dataclass
class Skip:
    kind: str
    run_path: str
    target_path: str | None
    reason: str  # a key of SKIP_REASONS

    @property
    def path(self) -> str:
        return self.target_path or self.run_path


@dataclass
class Plan:
    run: Run
    target_dir: str
    to_copy: list[Copy] = field(default_factory=list)
    to_skip: list[Skip] = field(default_factory=list)


def project_dir(run: Run) -> str:
    """The project directory a run came from; GuildError when it is not a project run or the project is gone."""
    try:
        opref = run.opref
    except (OSError, ValueError):
        raise GuildError("cannot read the operation of run %s" % run.id) from None
    if opref.pkg_type not in ("guildfile", "script"):
        raise GuildError(
            "run %s does not originate from a project - cannot merge to the current directory by default" % run.id,
            hint="Use --target-dir to skip this check or try 'guild merge --help' for more information.",
        )
    project = opref.project_dir
    source = opref.pkg_name
    if not project or not os.path.exists(source):
        raise GuildError(
            "unexpected missing project directory for run %s (%s)" % (run.id, opref.encode()),
            hint="Skip this check by using --target-dir",
        )
    return project


def plan(
    run: Run,
    target_dir: str,
    copy_all: bool = False,
    skip_sourcecode: bool = False,
    skip_deps: bool = False,
    exclude: tuple[str, ...] | list[str] = (),
) -> Plan:
    """Which run files go where in ``target_dir``, and which are skipped (and why)."""
    entries = manifest.read(run.path)
    if entries is None:
        raise GuildError("run manifest does not exist for run %s" % run.id)
    index: dict[str, list[str]] = {}
    for fields in entries:
        if len(fields) in (4, 5) and fields[0] in ("s", "d"):
            index[os.path.normpath(fields[1])] = fields
    result = Plan(run, target_dir)

    def excluded(path: str) -> bool:
        return any(fnmatch.fnmatch(path, pat) for pat in exclude)

    def unchanged(run_path: str, target_path: str) -> bool:
        dest = os.path.join(target_dir, target_path)
        return os.path.isfile(dest) and filecmp.cmp(os.path.join(run.path, run_path), dest, shallow=False)

    def consider(kind: str, run_path: str, target_path: str) -> None:
        if excluded(target_path):
            result.to_skip.append(Skip(kind, run_path, target_path, "excluded"))
        elif unchanged(run_path, target_path):
            result.to_skip.append(Skip(kind, run_path, target_path, "unchanged"))
        else:
            result.to_copy.append(Copy(kind, run_path, target_path))

    for run_path in sorted(_run_files(run.path)):
        entry = index.get(run_path)
        if entry is None:
            if not copy_all:
                result.to_skip.append(Skip("o", run_path, run_path, "other"))
            else:
                consider("o", run_path, run_path)
        elif entry[0] == "s":
            if skip_sourcecode:
                result.to_skip.append(Skip("s", run_path, entry[3], "source"))
            else:
                consider("s", run_path, entry[3])
        else:
            local = entry[3][5:] if entry[3].startswith("file:") and len(entry) == 4 else None
            if skip_deps:
                result.to_skip.append(Skip("d", run_path, local, "deps"))
            elif local is None:
                result.to_skip.append(Skip("d", run_path, None, "npd"))
            else:
                consider("d", run_path, local)
    # Two run files for one target: the run's own (dependency or generated) file wins over its source copy.
    nonsource = {c.target_path for c in result.to_copy if c.kind != "s"}
    result.to_copy = [c for c in result.to_copy if c.kind != "s" or c.target_path not in nonsource]
    return result


def _run_files(root: str) -> list[str]:
    out = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        rel_dir = os.path.relpath(dirpath, root)
        if rel_dir == ".":
            dirnames[:] = [d for d in dirnames if not d.startswith(".guild")]
        for name in filenames:
            rel = os.path.normpath(os.path.join(rel_dir, name))
            if not rel.startswith(".guild") and os.path.isfile(os.path.join(dirpath, name)):
                out.append(rel)
    return out


def replaced(p: Plan) -> list[str]:
    """Target paths the plan would overwrite."""
    return sorted({c.target_path for c in p.to_copy if os.path.lexists(os.path.join(p.target_dir, c.target_path))})


def vcs_check(p: Plan) -> tuple[str, list[str]] | None:
    """When ``target_dir`` is a git work tree: None if every replaced file is tracked and unchanged
    (git can give it back), else ``("replaced"|"unstaged", paths)``. Without git: ``("replaced", paths)``
    when any file would be replaced."""
    paths = replaced(p)
    if not paths:
        return None
    tracked = _git_lines(p.target_dir, ["ls-files"])
    if tracked is None:
        return ("replaced", paths)
    if any(path not in tracked for path in paths):
        return ("replaced", paths)
    changed = _git_lines(p.target_dir, ["diff", "--name-only", "--relative"]) or set()
    unstaged = [path for path in paths if path in changed]
    return ("unstaged", unstaged) if unstaged else None


def _git_lines(cwd: str, args: list[str]) -> set[str] | None:
    try:
        proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    if proc.returncode != 0:
        return None
    return {line for line in proc.stdout.splitlines() if line}


def apply(p: Plan, on_copy: Callable[[Copy], None] | None = None) -> None:
    """Copy the planned files (in target-path order), making directories as needed."""
    for c in sorted(p.to_copy, key=lambda c: c.target_path):
        if on_copy:
            on_copy(c)
        src = os.path.join(p.run.path, c.run_path)
        dest = os.path.join(p.target_dir, c.target_path)
        os.makedirs(os.path.dirname(dest) or ".", exist_ok=True)
        if os.path.islink(dest):
            os.remove(dest)
        try:
            shutil.copyfile(src, dest)
            shutil.copymode(src, dest)
        except shutil.SameFileError:
            pass


def summary_name(template: str, run: Run) -> str:
    return template.replace("${run_id}", run.id)


def write_summary(p: Plan, name: str) -> str:
    """Write a JSON summary of the merged run (id, operation, status, flags, last scalars, copied files)."""
    from luigi_guild.store import scalars as runscalars

    run = p.run
    try:
        op = run.opref.display
    except (OSError, ValueError):
        op = run.op_name
    data: dict[str, Any] = {
        "run": {
            "id": run.id,
            "operation": op,
            "status": str(run.status),
            "started": run.get("started"),
            "stopped": run.get("stopped"),
            "label": run.get("label"),
        },
        "flags": run.flags,
        "scalars": {key: val for key, (val, _step) in sorted(runscalars.last_values(run).items())},
        "files": [c.target_path for c in sorted(p.to_copy, key=lambda c: c.target_path)],
    }
    path = os.path.join(p.target_dir, name)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, sort_keys=True, default=str)
        f.write("\n")
    return path
