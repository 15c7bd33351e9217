"""Published runs: a run's info, flags, scalars, output and files as plain files plus rendered Markdown pages.

Layout (Guild's): ``DEST/<run id>/`` holds ``run.yml``, ``flags.yml``,
``scalars.csv``, ``output.txt``, ``sourcecode.csv`` and ``runfiles.csv``
(``path,type,size,mtime,md5``), a ``sourcecode/`` copy, ``runfiles/`` when
files are copied, and the files of a template (``README.md`` by default)
rendered with Jinja2; ``DEST/README.md`` indexes every published run and
``DEST/.guild-nocopy`` keeps the directory out of source snapshots.
Templates see ``run``, ``flags``, ``scalars``, ``output``, ``sourcecode``
and ``runfiles`` (the files above, read back) and Guild's filters
(``short_id``, ``utc_date``, ``file_size``, ``runfile_link``, ...), so a
template written for Guild renders here.
"""

from __future__ import annotations

import csv
import datetime
import hashlib
import os
import shutil
import stat
from typing import Any, Callable

from luigi_guild.model.errors import GuildError
from luigi_guild.store import manifest
from luigi_guild.store.rundir import Run

DEFAULT_DEST = "published-runs"
TEMPLATES = os.path.join(os.path.dirname(__file__), "templates")
DEFAULT_TEMPLATE = os.path.join(TEMPLATES, "publish-default")
INDEX_TEMPLATE = os.path.join(TEMPLATES, "runs-index", "README.md")
FILE_COLS = ["path", "type", "size", "mtime", "md5"]
SCALAR_COLS = [
    "prefix", "tag", "count", "total", "avg_val", "first_val", "first_step", "last_val", "last_step",
    "min_val", "min_step", "max_val", "max_step",
]
NO_FILES, OP_FILES, ALL_FILES = 0, 1, 2


class PublishError(GuildError):
    pass


# ------------------------------------------------------------------ formatting


def utc_text(us: Any) -> str:
    """A microsecond timestamp as ``YYYY-MM-DD HH:MM:SS UTC`` ('' when missing)."""
    if not isinstance(us, (int, float)) or not us:
        return ""
    when = datetime.datetime.fromtimestamp(us / 1e6, tz=datetime.timezone.utc)
    return when.strftime("%Y-%m-%d %H:%M:%S UTC")


def duration_text(started: Any, stopped: Any) -> str:
    if not isinstance(started, (int, float)) or not isinstance(stopped, (int, float)) or not started:
        return ""
    secs = int((stopped - started) // 1_000_000)
    mins, secs = divmod(secs, 60)
    hours, mins = divmod(mins, 60)
    return "%d:%02d:%02d" % (hours, mins, secs)


def size_text(n: float) -> str:
    """Bytes as Guild shows them: ``523``, ``13.4K``, ``2.0M``."""
    for unit in ("", "K", "M", "G", "T", "P", "E"):
        if abs(n) < 1024:
            return str(int(n)) if not unit else "%.1f%s" % (n, unit)
        n /= 1024.0
    return "%.1fZ" % n


def dir_size(path: str) -> int:
    total = 0
    for root, dirs, names in os.walk(path):
        for name in dirs + names:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


def _yaml_scalar(val: Any) -> str:
    import yaml

    # PyYAML's defaults (80-column folding included), as Guild writes run.yml.
    text = yaml.safe_dump(val, default_flow_style=False, indent=2).strip()
    return text[:-4] if text.endswith("\n...") else text


# ------------------------------------------------------------------ run files


def sourcecode_files(run: Run) -> list[str]:
    """The run's source code files (its manifest's ``s`` entries), relative to the run dir."""
    return sorted({os.path.normpath(e[1]) for e in manifest.read(run.path) or [] if len(e) > 1 and e[0] == "s"})


def run_files(run: Run, follow_links: bool = True) -> list[str]:
    """The run's files other than its source code and ``.guild``, relative to the run dir."""
    source = set(sourcecode_files(run))
    out = []
    for root, dirs, names in os.walk(run.path, followlinks=follow_links):
        if root == run.path and ".guild" in dirs:
            dirs.remove(".guild")
        dirs.sort()
        for name in names:
            rel = os.path.relpath(os.path.join(root, name), run.path)
            if rel not in source:
                out.append(rel)
    return sorted(out)


def _file_row(run: Run, rel: str, md5s: bool) -> list[Any]:
    path = os.path.join(run.path, rel)
    try:
        st: os.stat_result | None = os.stat(path)
    except OSError:
        st = None
    try:
        lst: os.stat_result | None = os.lstat(path)
    except OSError:
        lst = None
    kinds = []
    if st is not None:
        kinds.append("file" if stat.S_ISREG(st.st_mode) else "dir" if stat.S_ISDIR(st.st_mode) else "other")
    if lst is not None and stat.S_ISLNK(lst.st_mode):
        kinds.append("link")
    md5 = ""
    if md5s and st is not None and stat.S_ISREG(st.st_mode):
        h = hashlib.md5()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        md5 = h.hexdigest()
    return [rel, " ".join(kinds), st.st_size if st else "", int(st.st_mtime * 1e6) if st else "", md5]


def _write_csv(path: str, header: list[str], rows: list[list[Any]]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as f:
        out = csv.writer(f, lineterminator="\n")
        out.writerow(header)
        out.writerows(rows)


# ------------------------------------------------------------------ publishing


def publish_run(
    run: Run,
    dest: str = DEFAULT_DEST,
    template: str | None = None,
    copy_files: int = NO_FILES,
    include_links: bool = False,
    md5s: bool = True,
) -> str:
    """Publish ``run`` under ``dest`` (replacing an earlier publication of it); its directory."""
    opdata = _op_publish_config(run)
    template_dir = find_template(template or opdata.get("template") or "default", run)
    final = os.path.join(dest, run.id)
    os.makedirs(dest, exist_ok=True)
    open(os.path.join(dest, ".guild-nocopy"), "a").close()
    # Built beside its place and swapped in when complete: a failure leaves any earlier publication as it was.
    run_dest = os.path.join(dest, ".%s.publishing" % run.id)
    _remove(run_dest)
    os.mkdir(run_dest)
    try:
        _fill(run, run_dest, template_dir, opdata, copy_files, include_links, md5s)
    except BaseException:
        _remove(run_dest)
        raise
    old = os.path.join(dest, ".%s.old" % run.id)
    if os.path.lexists(final):
        _remove(old)
        os.rename(final, old)
    os.rename(run_dest, final)
    _remove(old)
    return final


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        os.remove(path)


def _fill(
    run: Run, run_dest: str, template_dir: str, opdata: dict[str, Any], copy_files: int, include_links: bool, md5s: bool
) -> None:
    _write_run_yml(run, run_dest)
    _write_flags(run, run_dest)
    _write_scalars(run, run_dest)
    output = run.guild_path("output")
    if os.path.isfile(output):
        shutil.copyfile(output, os.path.join(run_dest, "output.txt"))
    source = sourcecode_files(run)
    _write_csv(os.path.join(run_dest, "sourcecode.csv"), FILE_COLS, [_file_row(run, p, md5s) for p in source])
    _write_csv(os.path.join(run_dest, "runfiles.csv"), FILE_COLS, [_file_row(run, p, md5s) for p in run_files(run)])
    for rel in source:
        _copy(os.path.join(run.path, rel), os.path.join(run_dest, "sourcecode", rel))
    if copy_files != NO_FILES:
        select = _files_selector(opdata.get("files")) if copy_files == OP_FILES else None
        for rel in run_files(run, follow_links=include_links):
            src = os.path.join(run.path, rel)
            if os.path.islink(src) and not include_links:
                continue
            if select is not None and not select(run.path, rel):
                continue
            _copy(src, os.path.join(run_dest, "runfiles", rel))
    render_dir(template_dir, run_dest, _RunVars(run_dest), _filters(run_dest))


def _copy(src: str, dest: str) -> None:
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    try:
        shutil.copyfile(src, dest)
    except (OSError, shutil.SameFileError):
        pass


def _op_publish_config(run: Run) -> dict[str, Any]:
    """The ``publish:`` mapping of the run's operation in its guild.yml (empty when none or unreadable)."""
    try:
        opref = run.opref
    except (OSError, ValueError):
        return {}
    if opref.pkg_type != "guildfile" or not os.path.isfile(opref.pkg_name):
        return {}
    from luigi_guild.project import guildfile

    opspec = "%s:%s" % (opref.model_name, opref.op_name) if opref.model_name else opref.op_name
    try:
        val = guildfile.op_section(opref.pkg_name, opspec, "publish")
    except GuildError:
        return {}
    return val if isinstance(val, dict) else {}


def _files_selector(rules_value: Any) -> Callable[[str, str], bool]:
    """``publish: files:`` select rules (as ``sourcecode:`` writes them); nothing is selected without rules."""
    from luigi_guild.project import sourcecode

    if rules_value is None:
        return lambda root, rel: False
    try:
        specs = sourcecode.parse_config(rules_value).specs
    except sourcecode.SourceCodeError as e:
        raise PublishError("invalid publish files: %s" % e) from None
    rules = [sourcecode.Rule(s.include, s.patterns, s.type) for s in specs]

    def select(root: str, rel: str) -> bool:
        chosen = False
        for rule in rules:
            verdict, _why = rule.test(root, rel)
            if verdict is not None:
                chosen = verdict
        return chosen

    return select


def find_template(name: str, run: Run | None = None) -> str:
    """A template directory: ``default``, a path (absolute or starting with ``.``), or a directory
    beside the run's guild.yml."""
    if name == "default":
        return DEFAULT_TEMPLATE
    if (os.path.isabs(name) or name.startswith(".")) and os.path.exists(name):
        return name
    if run is not None:
        try:
            project = run.opref.project_dir
        except (OSError, ValueError):
            project = None
        if project and os.path.exists(os.path.join(project, name)):
            return os.path.join(project, name)
    raise PublishError("cannot find template %s" % name)


def _write_run_yml(run: Run, run_dest: str) -> None:
    try:
        op = run.opref.display
    except (OSError, ValueError):
        op = run.op_name
    started, stopped = run.get("started"), run.get("stopped")
    cmd = run.get("cmd")
    if isinstance(cmd, list):
        import shlex

        cmd = " ".join(shlex.quote(str(a)) for a in cmd)
    fields = [
        ("id", run.id),
        ("operation", _yaml_scalar(op)),
        ("status", _yaml_scalar(str(run.status))),
        ("started", utc_text(started)),
        ("stopped", utc_text(stopped)),
        ("time", duration_text(started, stopped)),
        ("marked", _yaml_scalar("yes" if run.get("marked") else "no")),
        ("label", _yaml_scalar(run.get("label"))),
        ("command", _yaml_scalar(cmd)),
        ("exit_status", _yaml_scalar(run.get("exit_status"))),
    ]
    with open(os.path.join(run_dest, "run.yml"), "w", encoding="utf-8") as f:
        for name, val in fields:
            f.write(("%s: %s" % (name, val)).rstrip() + "\n")


def _write_flags(run: Run, run_dest: str) -> None:
    import yaml

    with open(os.path.join(run_dest, "flags.yml"), "w", encoding="utf-8") as f:
        yaml.safe_dump(run.flags or {}, f, default_flow_style=False, indent=2, allow_unicode=True)


def _write_scalars(run: Run, run_dest: str) -> None:
    from luigi_guild.store import scalars as runscalars

    rows = []
    for s in sorted(runscalars.for_run(run), key=lambda s: (s.prefix, s.tag)):
        rows.append([getattr(s, col) for col in SCALAR_COLS])
    _write_csv(os.path.join(run_dest, "scalars.csv"), SCALAR_COLS, rows)


# ------------------------------------------------------------------ templates


class _RunVars(dict):
    """Template variables read lazily from a published run's files (``NAME.yml``, ``.csv`` or ``.txt``)."""

    NAMES = ("flags", "output", "run", "runfiles", "scalars", "sourcecode")

    def __init__(self, run_dest: str):
        super().__init__()
        self.run_dest = run_dest

    def load_all(self) -> dict[str, Any]:
        return {name: self._load(name) for name in self.NAMES}

    def _load(self, name: str) -> Any:
        base = os.path.join(self.run_dest, name)
        if os.path.exists(base + ".yml"):
            import yaml

            with open(base + ".yml", encoding="utf-8") as f:
                return yaml.safe_load(f)
        if os.path.exists(base + ".csv"):
            with open(base + ".csv", encoding="utf-8", newline="") as f:
                return list(csv.reader(f))
        if os.path.exists(base + ".txt"):
            with open(base + ".txt", encoding="utf-8", errors="replace") as f:
                return f.read()
        return None


def _filters(run_dest: str | None) -> dict[str, Callable[..., Any]]:
    import jinja2

    def empty(val: Any) -> Any:
        return "" if val in (None, "") or isinstance(val, jinja2.Undefined) else val

    def flag_val(val: Any) -> str:
        if isinstance(val, jinja2.Undefined):
            return ""
        from luigi_guild.model.flags import format_val

        return format_val(val)

    def runfile_link(path: Any) -> str | None:
        if run_dest is None:
            raise PublishError("runfile_link cannot be used in this context (not publishing a run)")
        if not isinstance(path, str):
            return ""
        return "runfiles/" + path if os.path.isfile(os.path.join(run_dest, "runfiles", path)) else None

    def utc_date(val: Any, unit: str = "s") -> str:
        try:
            n = int(val)
        except (TypeError, ValueError):
            return ""
        factor = {"s": 1_000_000, "ms": 1000, "us": 1}.get(unit)
        if factor is None:
            raise ValueError("unsupported unit %r (expected s, ms, or us)" % unit)
        return utc_text(n * factor)

    def file_size(val: Any) -> str:
        try:
            return size_text(int(val))
        except (TypeError, ValueError):
            return ""

    def scalar_key(s: Any) -> str:
        if not isinstance(s, dict):
            return ""
        prefix, tag = s.get("prefix"), s.get("tag")
        return str(tag) if not prefix or prefix == ".guild" else "%s#%s" % (prefix, tag)

    def csv_dict_rows(rows: Any) -> list[dict]:
        if not rows:
            return []
        return [dict(zip(rows[0], row)) for row in rows[1:]]

    return {
        "empty": empty,
        "flag_val": flag_val,
        "runfile_link": runfile_link,
        "utc_date": utc_date,
        "file_size": file_size,
        "scalar_key": scalar_key,
        "csv_dict_rows": csv_dict_rows,
        "nbsp": lambda x: x if x else "&nbsp;",
        "short_id": lambda x: x[:8] if isinstance(x, str) else "",
        "nbhyph": lambda s: s.replace("-", "&#8209;") if s else s,
    }


def _environment(search: list[str], filters: dict[str, Callable[..., Any]]) -> Any:
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(search + [TEMPLATES]), keep_trailing_newline=True)
    env.filters.update(filters)
    return env


def render_dir(template_dir: str, dest: str, run_vars: _RunVars, filters: dict[str, Callable[..., Any]]) -> None:
    """Render every file of ``template_dir`` not starting with ``_`` into ``dest`` (binary files are copied)."""
    import jinja2

    from luigi_guild.project.sourcecode import is_text_file

    values = run_vars.load_all()
    for root, dirs, names in os.walk(template_dir):
        dirs.sort()
        for name in sorted(names):
            if name.startswith("_"):
                continue
            src = os.path.join(root, name)
            rel = os.path.relpath(src, template_dir)
            target = os.path.join(dest, rel)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            if not is_text_file(src):
                shutil.copyfile(src, target)
                continue
            env = _environment([root], filters)
            try:
                text = env.get_template(name).render(values)
            except jinja2.TemplateError as e:
                lineno = getattr(e, "lineno", None)
                where = ":%s" % lineno if lineno else ""
                raise PublishError("%s%s: %s" % (src, where, getattr(e, "message", None) or e)) from None
            with open(target, "w", encoding="utf-8") as f:
                f.write(text if text.endswith("\n") else text + "\n")


def published_runs(dest: str) -> list[dict[str, Any]]:
    """The ``run.yml`` of every run published in ``dest``, newest first."""
    import yaml

    found = []
    try:
        names = os.listdir(dest)
    except OSError:
        return []
    for name in names:
        if name.startswith("."):  # one being built or replaced
            continue
        path = os.path.join(dest, name, "run.yml")
        if not os.path.isfile(path):
            continue
        try:
            with open(path, encoding="utf-8") as f:
                info = yaml.safe_load(f)
        except (OSError, yaml.YAMLError):
            continue
        if isinstance(info, dict):
            found.append(info)
    return sorted(found, key=lambda r: str(r.get("started") or ""), reverse=True)


def refresh_index(dest: str, index_template: str | None = None) -> str:
    """Write ``dest/README.md`` listing the published runs; its path."""
    import jinja2

    template = index_template or INDEX_TEMPLATE
    env = _environment([os.path.dirname(os.path.abspath(template))], _filters(None))
    try:
        text = env.get_template(os.path.basename(template)).render(runs=published_runs(dest))
    except jinja2.TemplateError as e:
        raise PublishError("error refreshing index: %s" % (getattr(e, "message", None) or e)) from None
    os.makedirs(dest, exist_ok=True)
    path = os.path.join(dest, "README.md")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text if text.endswith("\n") else text + "\n")
    return path

