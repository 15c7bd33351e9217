"""Source code: which project files a run copies (guild.yml ``sourcecode:``), and the copy itself.

A :class:`Selection` is an ordered list of include/exclude :class:`Rule` s
over a source root; the last rule that applies to a file decides, and
directory rules prune whole directories. Guild's defaults come first, then
the model's ``sourcecode:`` rules, then the operation's.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import shlex
import sys
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator


def _env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, "")) or default
    except ValueError:
        return default


MAX_FILE_SIZE = _env_int("MAX_DEFAULT_SOURCECODE_FILE_SIZE", 1024 * 1024)
MAX_FILES = _env_int("MAX_DEFAULT_SOURCECODE_COUNT", 100)

# Extensions decided without reading the file (as Guild decides them).
_TEXT_EXT = {".csv", ".md", ".py", ".sh", ".txt"}

_HELP_SUFFIX = " To control which files are copied, define 'sourcecode' for the operation in a Guild file."


class SourceCodeError(ValueError):
    """A ``sourcecode:`` value that cannot be read; the message says why."""


# ------------------------------------------------------------------ config


@dataclass
class Spec:
    """One select item of ``sourcecode:``: include or exclude ``patterns`` of a ``type``."""

    include: bool
    patterns: list[str]
    type: str | None = None  # text, binary, dir; None: any file


@dataclass
class Config:
    """A parsed model- or operation-level ``sourcecode:`` value."""

    disabled: bool = False
    root: str | None = None
    dest: str | None = None
    specs: list[Spec] = field(default_factory=list)


_SPEC_TYPES = ("text", "binary", "dir", "file")


def parse_config(value: Any) -> Config:
    """Read a ``sourcecode:`` value in any of Guild's forms.

    ``no``/``[]`` disables the copy; a string or a list of strings selects
    only those patterns; a list of ``include:``/``exclude:`` items adds
    rules to the defaults; a mapping may give ``select``, ``root`` and
    ``dest``.
    """
    if value is None:
        return Config()
    if value is False or value == []:
        return Config(disabled=True)
    if isinstance(value, str):
        return Config(specs=[Spec(False, ["*"]), Spec(True, [value])])
    if isinstance(value, list):
        return Config(specs=_specs(value))
    if isinstance(value, dict):
        unknown = sorted(str(k) for k in value if k not in ("select", "root", "dest", "digest"))
        if unknown:
            raise SourceCodeError("unknown sourcecode attribute '%s' (expected select, root or dest)" % unknown[0])
        config = parse_config(value.get("select"))
        for name in ("root", "dest"):
            val = value.get(name)
            if val is not None and (not isinstance(val, str) or not val):
                raise SourceCodeError("sourcecode %s must be a path, got %r" % (name, val))
        if isinstance(value.get("dest"), str) and (os.path.isabs(value["dest"]) or _climbs(value["dest"])):
            raise SourceCodeError("sourcecode dest must be a path inside the run directory, got %r" % value["dest"])
        config.root = value.get("root")
        config.dest = value.get("dest")
        return config
    raise SourceCodeError("sourcecode must be a list, a mapping, a pattern or 'no', got %r" % (value,))


def _climbs(path: str) -> bool:
    return os.path.normpath(path).split(os.sep)[0] == ".."


def _specs(items: list) -> list[Spec]:
    specs: list[Spec] = []
    only_strings = True
    for item in items:
        if isinstance(item, str):
            specs.append(Spec(True, [item]))
        elif isinstance(item, dict):
            only_strings = False
            specs.append(_spec(item))
        else:
            raise SourceCodeError("sourcecode item %r must be a pattern or an include/exclude mapping" % (item,))
    if only_strings:  # a plain list names the only files to copy
        specs.insert(0, Spec(False, ["*"]))
    return specs


def _spec(item: dict) -> Spec:
    kinds = [k for k in ("include", "exclude") if k in item]
    if len(kinds) != 1:
        raise SourceCodeError(
            "sourcecode item %r must have exactly one of include or exclude (use one item per rule, in order)" % (item,)
        )
    kind = kinds[0]
    val = item[kind]
    ptype = None
    if isinstance(val, dict):
        types = [t for t in _SPEC_TYPES if t in val]
        if len(types) != 1 or len(val) != 1:
            raise SourceCodeError(
                "sourcecode %s %r must name one of %s" % (kind, val, ", ".join(_SPEC_TYPES))
            )
        ptype = types[0]
        val = val[ptype]
    return Spec(kind == "include", _patterns(kind, val), None if ptype == "file" else ptype)


def _patterns(kind: str, val: Any) -> list[str]:
    if isinstance(val, str):
        if val.startswith("[") and val.endswith("]"):
            import yaml

            val = yaml.safe_load(val)
        else:
            return [val]
    if isinstance(val, list) and all(isinstance(v, str) for v in val):
        return list(val)
    raise SourceCodeError("sourcecode %s must be a pattern or a list of patterns, got %r" % (kind, val))


# ------------------------------------------------------------------- rules


class Rule:
    """Include or exclude paths matching ``patterns`` (fnmatch; no ``/``: the base name)."""

    def __init__(
        self,
        include: bool,
        patterns: list[str],
        type: str | None = None,
        sentinel: str | None = None,
        size_lt: int | None = None,
        max_matches: int | None = None,
    ) -> None:
        self.include = include
        self.patterns = patterns
        self.type = type
        self.sentinel = sentinel
        self.size_lt = size_lt
        self.max_matches = max_matches
        self.matches = 0

    def __str__(self) -> str:
        parts = ["include" if self.include else "exclude"]
        if self.type:
            parts.append(self.type)
        parts.append(", ".join(shlex.quote(p) if " " in p else p for p in self.patterns))
        extras = []
        if self.sentinel:
            extras.append("containing %s" % self.sentinel)
        if self.size_lt:
            extras.append("size < %d" % self.size_lt)
        if self.max_matches:
            extras.append("max match %d" % self.max_matches)
        if extras:
            parts.append(", ".join(extras))
        return " ".join(parts)

    def test(self, root: str, rel: str) -> tuple[bool | None, str | None]:
        """``(include?, None)`` when the rule applies to ``rel``; ``(None, failed test)`` when not."""
        if self.max_matches is not None and self.matches >= self.max_matches:
            return None, "max matches"
        if not any(_fnmatch(rel, p) for p in self.patterns):
            return None, "pattern"
        full = os.path.join(root, rel)
        if not self._type_ok(full):
            return None, "type"
        if self.size_lt is not None:
            try:
                size = os.path.getsize(full)
            except OSError:
                size = None
            if size is not None and size >= self.size_lt:
                return None, "size"
        self.matches += 1
        return self.include, None

    def _type_ok(self, path: str) -> bool:
        if self.type is None:
            return True
        if self.type == "dir":
            if not os.path.isdir(path):
                return False
            return not self.sentinel or os.path.exists(os.path.join(path, self.sentinel))
        if self.type == "text":
            return is_text_file(path)
        return os.path.isfile(path) and not is_text_file(path)


def _fnmatch(rel: str, pattern: str) -> bool:
    if "/" not in pattern:
        rel = os.path.basename(rel)
    return fnmatch.fnmatch(rel, pattern.lstrip("/"))


def is_text_file(path: str) -> bool:
    """Whether ``path`` is a text file: known extensions first, then its first bytes (binaryornot)."""
    if not os.path.isfile(path):
        return False
    if os.path.splitext(path)[1].lower() in _TEXT_EXT:
        return True
    from binaryornot.check import is_binary

    try:
        return not is_binary(path)
    except OSError:
        return False


def default_rules(python: bool = True) -> list[Rule]:
    """Guild's default rules: no dot dirs, text files under the size limit, at most :data:`MAX_FILES`."""
    rules = [
        Rule(False, [".*"], "dir"),
        Rule(False, ["*"], "dir", sentinel=".guild-nocopy"),
        Rule(True, ["*"], "text", size_lt=MAX_FILE_SIZE + 1, max_matches=MAX_FILES),
    ]
    if python:  # no byte code, virtual envs or build output
        rules += [
            Rule(False, ["__pycache__"], "dir"),
            Rule(False, ["*"], "dir", sentinel="bin/activate"),
            Rule(False, ["*"], "dir", sentinel="Scripts/activate"),
            Rule(False, ["build"], "dir"),
            Rule(False, ["dist"], "dir"),
            Rule(False, ["*.egg-info"], "dir"),
        ]
    return rules


class GitignoreRule(Rule):
    """Select every file Git does not ignore (``.gitignore``, ``.guildignore`` and Git's own excludes)."""

    def __init__(self, ignored: list[str]) -> None:
        super().__init__(True, [])
        self.ignored = {os.path.normpath(p) for p in ignored}

    def __str__(self) -> str:
        return "gitignore + guildignore patterns"

    def test(self, root: str, rel: str) -> tuple[bool | None, str | None]:
        return (True, None) if os.path.normpath(rel) not in self.ignored else (None, "pattern")


def git_rules(root: str) -> list[Rule] | None:
    """Guild's rules for a project under Git: whatever Git does not ignore; None when not in a Git work tree.

    Patterns in the project's ``.guildignore`` are ignored too. Git's own
    files, ``.guild`` and directories holding ``.guild-nocopy`` are left out.
    """
    if not _may_be_in_git_tree(root):
        return None
    import subprocess

    cmd = ["git", "ls-files", "-ioc", "--exclude-standard", "--directory"]
    for pattern in _guildignore(root):
        cmd += ["-x", pattern]
    try:
        proc = subprocess.run(cmd, cwd=root, capture_output=True, stdin=subprocess.DEVNULL)
    except OSError:  # no git
        return None
    if proc.returncode != 0:
        return None
    ignored = proc.stdout.decode("utf-8", errors="ignore").splitlines()
    ignored_dirs = [p.rstrip("/") for p in ignored if p and os.path.isdir(os.path.join(root, p))]
    return [
        Rule(False, [".guild"], "dir"),
        Rule(False, ["*"], "dir", sentinel=".guild-nocopy"),
        Rule(False, [".git"] + ignored_dirs, "dir"),
        GitignoreRule([p for p in ignored if p]),
        Rule(False, [".git*", ".guildignore"]),
    ]


def _may_be_in_git_tree(root: str) -> bool:
    """False when Git cannot find a repository for ``root``: no ``.git`` in it or above, no ``GIT_DIR``.

    Asking Git costs a process start per run (a sweep's every trial); this answers the common
    "not under Git" case without one. Anything else is left to Git itself.
    """
    if os.environ.get("GIT_DIR") or os.environ.get("GIT_WORK_TREE"):
        return True
    path = os.path.abspath(root)
    while True:
        if os.path.lexists(os.path.join(path, ".git")):
            return True
        parent = os.path.dirname(path)
        if parent == path:
            return False
        path = parent


def _guildignore(root: str) -> list[str]:
    try:
        with open(os.path.join(root, ".guildignore"), encoding="utf-8", errors="replace") as f:
            lines = [line.strip() for line in f]
    except OSError:
        return []
    return [line for line in lines if line and not line.startswith("#")]


# --------------------------------------------------------------- selection


@dataclass
class Selection:
    """The rules that pick an operation's source files under ``root``; copied to ``dest`` in the run."""

    root: str
    rules: list[Rule]
    dest: str = "."

    @property
    def disabled(self) -> bool:
        """Whether nothing can be selected: an untyped ``exclude *`` with no include after it."""
        disabled = False
        for rule in self.rules:
            if rule.include:
                disabled = False
            elif "*" in rule.patterns and rule.type is None:
                disabled = True
        return disabled

    def _default_only(self) -> bool:
        files = [r for r in self.rules if r.type != "dir"]
        return len(files) == 1 and files[0].include and files[0].max_matches == MAX_FILES


def selection(
    project_dir: str, model: Config | None = None, op: Config | None = None, python: bool = True
) -> Selection:
    """The selection for an operation: Guild's defaults, then ``model``'s rules, then ``op``'s.

    The operation's ``root``/``dest`` win over the model's. A model that
    disables the copy is overridden only by operation rules. In a Git work
    tree Guild's Git rules (:func:`git_rules`) stand in for the defaults.
    """
    model = model or Config()
    op = op or Config()
    root_rel = op.root or model.root
    root = os.path.normpath(os.path.join(project_dir, root_rel)) if root_rel else project_dir
    dest = op.dest or model.dest or "."
    if op.disabled or (model.disabled and not op.specs):
        return Selection(root, [Rule(False, ["*"])], dest)
    rules = git_rules(root)
    if rules is None:
        rules = default_rules(python)
    for config in (model, op):
        rules += [_rule(spec, root) for spec in config.specs]
    return Selection(root, rules, dest)


def _rule(spec: Spec, root: str) -> Rule:
    patterns = spec.patterns
    if spec.type is None:  # a pattern naming a directory means the files in it
        patterns = [p + "/*" if os.path.isdir(os.path.join(root, p)) else p for p in patterns]
    return Rule(spec.include, patterns, spec.type)


def for_opdef(opdef: Any) -> Selection:
    """The selection for an :class:`~luigi_guild.model.opdef.OpDef` (its guild.yml settings, if any)."""
    settings = opdef.sourcecode or {}
    exec_ = (opdef.exec_ or "").split()
    python = bool(opdef.main) or bool(exec_) and (
        exec_[0] == "${python_exe}" or os.path.basename(exec_[0]).lower().startswith("python")
    )
    return selection(opdef.project_dir, settings.get("model"), settings.get("op"), python)


@dataclass
class Decision:
    """One path the walk met: ``selected`` or skipped, and why the default rules skipped it."""

    path: str  # relative to the selection root, ``/`` separators
    is_dir: bool
    selected: bool
    warning: str | None = None


def walk(sel: Selection) -> Iterator[Decision]:
    """Every directory pruned and file met under the root, in Guild's order, with the decision.

    Linked directories are followed once (a link cycle is not walked twice).
    """
    if sel.disabled or not os.path.isdir(sel.root):
        return
    default_only = sel._default_only()
    dir_rules = [r for r in sel.rules if r.type == "dir"]
    file_rules = [r for r in sel.rules if r.type != "dir"]
    seen: set[str] = set()
    warned_max = False
    for dirpath, dirnames, filenames in os.walk(sel.root, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:
            dirnames[:] = []
            continue
        seen.add(real)
        reldir = os.path.relpath(dirpath, sel.root)
        reldir = "" if reldir == "." else reldir.replace(os.sep, "/")
        kept = []
        for name in sorted(dirnames):
            rel = reldir + "/" + name if reldir else name
            last = None
            for rule in dir_rules:
                result, _failed = rule.test(sel.root, rel)
                if result is not None:
                    last = result
            if last is False:
                yield Decision(rel, True, False)
            else:
                kept.append(name)
        dirnames[:] = kept
        for name in sorted(filenames):
            rel = reldir + "/" + name if reldir else name
            decided: bool | None = None
            failed: str | None = None
            for rule in file_rules:
                result, why = rule.test(sel.root, rel)
                if result is not None:
                    decided = result
                if len(file_rules) == 1:
                    failed = why
            warning = None
            if default_only and not decided:
                if failed == "max matches" and not warned_max:
                    warned_max = True
                    warning = "Found more than %d source code files but will only copy %d as a safety measure.%s" % (
                        MAX_FILES, MAX_FILES, _HELP_SUFFIX
                    )
                elif failed == "size":
                    shown = os.path.relpath(os.path.join(sel.root, rel))
                    warning = "Skipping source code file %s because it's too big.%s" % (shown, _HELP_SUFFIX)
            yield Decision(rel, False, decided is True, warning)


def source_files(root: str, warn: bool = False) -> list[str]:
    """Relative paths of the files the default selection picks under ``root``, hidden files left out.

    For shipping a project (remotes): dot files such as ``.env`` stay home.
    With ``warn``, says on stderr why a file the defaults would take was left out.
    """
    found = []
    for d in walk(selection(root)):
        if warn and d.warning:
            sys.stderr.write("WARNING: %s\n" % d.warning)
        if d.selected and not any(part.startswith(".") for part in d.path.split("/")):
            found.append(d.path)
    return found


def _chosen(sel: Selection, ignore: set[str] | None) -> Iterator[Any]:
    """The selected entries of :func:`walk` not in ``ignore``; each walk warning goes to stderr once."""
    for d in walk(sel):
        if d.warning:
            sys.stderr.write("WARNING: %s\n" % d.warning)
        if d.selected and not (ignore and d.path in ignore):
            yield d


def copy(
    sel: Selection, run_dir: str, ignore: set[str] | None = None
) -> tuple[str | None, list[tuple[str, str, str]]]:
    """Copy the selected files into ``run_dir``/``dest``; warnings go to stderr.

    Files whose root-relative path is in ``ignore`` are not copied.

    Returns Guild's ``sourcecode_digest`` of every source file the run's
    manifest lists after the copy (``prior`` entries are the caller's
    concern: see :func:`digest`) and ``(run-relative path, sha1,
    root-relative path)`` per copied file, for the manifest.
    """
    import shutil

    copied: list[tuple[str, str, str]] = []
    dest_root = os.path.normpath(os.path.join(run_dir, sel.dest))
    for d in _chosen(sel, ignore):
        src = os.path.join(sel.root, d.path)
        dst = os.path.join(dest_root, d.path)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        try:
            shutil.copyfile(src, dst)
            shutil.copymode(src, dst)
        except FileNotFoundError:
            continue  # removed while we walked
        with open(dst, "rb") as f:
            sha1 = hashlib.sha1(f.read()).hexdigest()
        run_rel = os.path.relpath(dst, run_dir).replace(os.sep, "/")
        copied.append((run_rel, sha1, d.path))
    return digest(run_dir, [rel for rel, _sha, _src in copied]), copied


def copy_source(root: str, dest: str) -> tuple[str | None, list[tuple[str, str]]]:
    """Copy the default selection from ``root`` to ``dest``; the digest and ``(path, sha1)`` per file."""
    result, copied = copy(selection(root), dest)
    return result, [(rel, sha1) for rel, sha1, _src in copied]


@dataclass
class Snapshot:
    """The selected source files read once (a sweep's trials each get a copy of the same files)."""

    files: list[tuple[str, bytes, int, str, str]]  # (run-relative path, content, mode, sha1, root-relative path)
    digest: str | None


def snapshot(sel: Selection, ignore: set[str] | None = None, limit: int = 4 << 20) -> Snapshot | None:
    """What :func:`copy` would copy, read into memory (warnings go to stderr, once); None when the
    files hold more than ``limit`` bytes or would land outside the run directory."""
    files: list[tuple[str, bytes, int, str, str]] = []
    total = 0
    for d in _chosen(sel, ignore):
        src = os.path.join(sel.root, d.path)
        try:
            with open(src, "rb") as f:
                data = f.read(limit + 1)
                mode = os.fstat(f.fileno()).st_mode & 0o7777
        except FileNotFoundError:
            continue  # removed while we walked
        total += len(data)
        run_rel = os.path.normpath(os.path.join(sel.dest, d.path)).replace(os.sep, "/")
        if total > limit or run_rel.startswith("../") or os.path.isabs(run_rel):
            return None
        files.append((run_rel, data, mode, hashlib.sha1(data).hexdigest(), d.path))
    return Snapshot(files, _digest_of((rel, data) for rel, data, _m, _s, _p in files))


def _digest_of(items: Iterable[tuple[str, bytes]]) -> str | None:
    """``sourcecode_digest`` of (run-relative path, content) pairs (see :func:`digest`)."""
    entries = sorted((rel.replace(os.sep, "/"), data) for rel, data in items)
    if not entries:
        return None
    md5 = hashlib.md5()
    for rel, data in entries:
        md5.update(rel.encode("utf-8"))
        md5.update(b"\0")
        md5.update(data)
        md5.update(b"\0")
    return md5.hexdigest()


def digest(run_dir: str, paths: list[str]) -> str | None:
    """Guild's ``sourcecode_digest`` of the files ``paths`` (run-relative) in ``run_dir``.

    md5 over the paths in code-point order, each as ``path NUL bytes NUL``
    (``/`` separators); duplicates count twice, as in Guild. None for no paths.
    """
    if not paths:
        return None
    md5 = hashlib.md5()
    for rel in sorted(paths):
        md5.update(rel.replace(os.sep, "/").encode("utf-8"))
        md5.update(b"\0")
        with open(os.path.join(run_dir, rel), "rb") as f:
            md5.update(f.read())
        md5.update(b"\0")
    return md5.hexdigest()
