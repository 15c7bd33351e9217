"""Creating run directories: new runs (atomically, under a hidden name), restarts and staging.

A run is assembled under ``.tmp-<id>-<random>`` and renamed into place last,
so an interrupted creation never leaves a listed run behind.
"""

from __future__ import annotations

import errno
import os
import re
import shlex
import time
from typing import Any

from luigi_guild.model import home
from luigi_guild.model.errors import GuildError
from luigi_guild.run.plan import RunPlan
from luigi_guild.run.process import child_env
from luigi_guild.store import manifest
from luigi_guild.store.rundir import Run, marker_alive, now_us

_RUN_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*")


def check_run_id(run_id: str) -> None:
    """Refuse ids that are not a plain directory name."""
    if not _RUN_ID_RE.fullmatch(run_id) or run_id in (".", ".."):
        shown = run_id if run_id.isprintable() else run_id.encode("unicode_escape").decode("ascii")
        raise GuildError("invalid run ID '%s': use letters, digits, '_', '.', '+' or '-'" % shown)


def new_run_id() -> str:
    """A random (version 4) UUID as 32 hex digits, the way Guild names runs; no ``uuid`` import."""
    b = bytearray(os.urandom(16))
    b[6] = (b[6] & 0x0F) | 0x40  # version 4
    b[8] = (b[8] & 0x3F) | 0x80  # RFC 4122 variant
    return b.hex()


def create_run(plan: RunPlan, run_id: str | None = None, run_dir: str | None = None) -> Run:
    """Create the run directory (``PENDING``, attrs, source) atomically; returns the run.

    The directory is assembled under a hidden temporary name and renamed into
    place last, so an interrupted creation never leaves a listed run behind.
    With ``run_dir`` the run is made in that directory instead (``--run-dir``),
    outside Guild home; an existing directory is used as it is.
    """
    if run_dir is not None:
        return _create_in_dir(plan, os.path.abspath(run_dir))
    runs_root = home.runs_dir()
    if run_id is not None:
        check_run_id(run_id)
    run_id = run_id or new_run_id()
    final = os.path.join(runs_root, run_id)
    if os.path.lexists(final):
        raise GuildError("a run with ID '%s' already exists" % run_id)
    try:
        os.makedirs(runs_root, exist_ok=True)
        clean_stale_tmp(runs_root)
        tmp = os.path.join(runs_root, "%s%s-%s" % (TMP_PREFIX, run_id, os.urandom(4).hex()))
        os.makedirs(os.path.join(tmp, ".guild", "attrs"))
    except OSError as e:
        raise GuildError("cannot create run in %s: %s" % (runs_root, e.strerror or e)) from None
    try:
        run = Run(run_id, tmp)
        _populate(run, plan, final)
        run.write_opref(plan.opref)
        os.rename(tmp, final)
    except BaseException as e:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(e, OSError) and e.errno in (errno.EEXIST, errno.ENOTEMPTY):
            raise GuildError("a run with ID '%s' already exists" % run_id) from None
        if isinstance(e, OSError):
            raise GuildError("cannot create run %s: %s" % (run_id, e.strerror or e)) from None
        raise
    run = Run(run_id, final)
    return run


def _populate(run: Run, plan: RunPlan, final: str | None = None) -> None:
    """Write a new run's ``PENDING``, attrs, source copy, config flags, dependencies and manifest.

    ``final`` is where the run directory goes once made (named in warnings).
    """
    run.mark_pending()
    _write_init_attrs(run, plan)
    entries: list[str] = []
    if os.environ.get("NO_SOURCECODE") == "1":
        pass
    elif plan.proto is not None and plan.force_sourcecode is None:
        entries = copy_proto_sourcecode(run, plan.proto)
    elif plan.project_dir and os.path.isdir(plan.project_dir):
        entries = copy_sourcecode(run, plan)
    write_config_flags(run, plan)
    deps_attr: dict = {}
    if plan.upstream or plan.skipped_optional or (plan.opdef is not None and plan.opdef.file_requires):
        from luigi_guild.run import deps

        # In the order the operation's requires lists them, whatever their kind, as Guild does.
        deps_attr, dep_lines = deps.place_all(plan, run.path, final or run.path)
        entries += dep_lines
    run.write_attr("deps", deps_attr)
    manifest.append(run.path, entries)


def copy_sourcecode(run: Run, plan: RunPlan, prior: list[str] | None = None) -> list[str]:
    """Copy the plan's source files into the run; writes ``sourcecode_digest``, returns manifest lines.

    ``prior`` are run-relative source paths the manifest already lists (a
    ``--force-sourcecode`` restart): they count in the digest again, as in Guild.
    """
    from luigi_guild.project import sourcecode  # shutil/fnmatch: only when there is source

    opdef = plan.force_sourcecode or plan.opdef
    sel = sourcecode.for_opdef(opdef) if opdef is not None else sourcecode.selection(plan.project_dir or "")
    # As Guild does, the project files the operation requires (``file:``) are not source code.
    local = opdef.file_requires if opdef is not None else []
    ignore = {
        os.path.relpath(os.path.join(f.location or opdef.project_dir, f.path), sel.root).replace(os.sep, "/")
        for f in local
    } if opdef is not None else set()
    _digest, copied = sourcecode.copy(sel, run.path, ignore)
    paths = list(prior or []) + [rel for rel, _sha, _src in copied]
    run.write_attr("sourcecode_digest", sourcecode.digest(run.path, paths))
    return [manifest.line("s", rel, sha1, src) for rel, sha1, src in copied]


def copy_proto_sourcecode(run: Run, proto: Run) -> list[str]:
    """``--proto``: copy the source files the proto run's manifest lists (its ``s`` entries) and its
    ``sourcecode_digest``; returns the new run's manifest lines for them."""
    import shutil

    entries: list[str] = []
    for fields in manifest.read(proto.path) or []:
        if len(fields) < 2 or fields[0] != "s":
            continue
        rel = fields[1]
        src = os.path.join(proto.path, rel)
        if os.path.isabs(rel) or ".." in rel.split("/") or not os.path.isfile(src) or os.path.islink(src):
            continue  # only plain files inside the proto run
        dest = os.path.join(run.path, rel)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        shutil.copy2(src, dest)
        entries.append(manifest.line(*fields))
    digest = proto.get("sourcecode_digest")
    if digest is not None:
        run.write_attr("sourcecode_digest", digest)
    return entries


def _create_in_dir(plan: RunPlan, path: str) -> Run:
    if os.path.exists(path) and not os.path.isdir(path):
        raise GuildError("run directory '%s' is not a directory" % path)
    run = Run.for_dir(path)
    if run.lock_alive():
        raise GuildError("run directory '%s' holds a running run" % path)
    import shutil

    try:
        shutil.rmtree(run.guild_path(), ignore_errors=True)
        os.makedirs(run.guild_path("attrs"))
        _populate(run, plan)
        run.write_opref(plan.opref)
    except OSError as e:
        shutil.rmtree(run.guild_path(), ignore_errors=True)
        raise GuildError("cannot create run in %s: %s" % (path, e.strerror or e)) from None
    return run


# A run being created lives under this hidden prefix until it is renamed.
TMP_PREFIX = ".tmp-"
# Age after which a leftover creation dir whose creator is gone is removed.
STALE_TMP_AGE = 60.0
# Age after which a leftover creation dir with no readable creator is removed.
STALE_TMP_AGE_UNKNOWN = 24 * 3600.0


# ------------------------------------------------ runs made by the trial's own process


# Source trees up to this size (bytes) are read once and handed to each trial's process to write;
# larger ones are copied by create_run for each run (a request to the launcher is one socket message).
SNAPSHOT_LIMIT = 128 * 1024


class _SweepFiles:
    """What every new run of one operation definition shares: its source snapshot and encoded attrs."""

    def __init__(self, snap: Any, manifest_data: bytes):
        self.snapshot = snap
        self.manifest = manifest_data
        self.encoded: dict[tuple[str, str], bytes] = {}  # (attr, repr of value) -> YAML document
        self.env_lines: dict[tuple[str, str], str | None] = {}

    def encode(self, name: str, value: Any) -> bytes:
        """``value``'s YAML document; plain values (whose ``repr`` tells them apart) encoded once."""
        from luigi_guild.model import yamlutil

        if type(value) not in (dict, list, str, int, float, bool, type(None)):
            return (yamlutil.encode(value) + "\n").encode("utf-8")
        key = (name, repr(value))
        data = self.encoded.get(key)
        if data is None:
            data = (yamlutil.encode(value) + "\n").encode("utf-8")
            if len(self.encoded) < 10_000:
                self.encoded[key] = data
        return data

    def encode_env(self, env: dict[str, str]) -> bytes:
        """The ``env`` attr: the same document as ``encode(env)``, made from lines kept per variable."""
        from luigi_guild.model import yamlutil

        lines = []
        for key in sorted(env):
            item = (key, env[key])
            line = self.env_lines.get(item, "")
            if line == "":
                text = yamlutil.encode({key: env[key]})
                line = text if "\n" not in text and text.startswith(yamlutil.encode(key) + ": ") else None
                if len(self.env_lines) < 10_000:
                    self.env_lines[item] = line
            if line is None:  # not a one-line entry: the whole document, as written elsewhere
                return (yamlutil.encode(env) + "\n").encode("utf-8")
            lines.append(line)
        return (("\n".join(lines) if lines else "{}") + "\n").encode("utf-8")


_sweep_files: dict[int, tuple[Any, _SweepFiles | None]] = {}


def _files_for(plan: RunPlan) -> _SweepFiles | None:
    """The shared part of ``plan``'s new runs, made once per operation definition (None: not eligible)."""
    from luigi_guild.project import sourcecode

    opdef = plan.opdef
    found = _sweep_files.get(id(opdef))
    if found is not None and found[0] is opdef:
        return found[1]
    snap = None
    entries: list[str] = []
    files: _SweepFiles | None = None
    if os.environ.get("NO_SOURCECODE") == "1" or not (plan.project_dir and os.path.isdir(plan.project_dir)):
        files = _SweepFiles(None, b"")
    else:
        assert opdef is not None
        sel = sourcecode.for_opdef(opdef)
        snap = sourcecode.snapshot(sel, limit=SNAPSHOT_LIMIT)
        if snap is not None:
            entries = [manifest.line("s", rel, sha1, src) for rel, _d, _m, sha1, src in snap.files]
            files = _SweepFiles(snap, "".join(entries).encode("utf-8"))
    if len(_sweep_files) > 16:
        _sweep_files.clear()
    if plan.project_dir:
        clean_stale_tmp(home.runs_dir())  # once here, where create_run does it for each run
    _sweep_files[id(opdef)] = (opdef, files)
    return files


def forget_shared_files() -> None:
    """Drop what :func:`deferred_run` keeps per operation definition (a sweep calls this when it ends,
    so the next one reads the source files afresh)."""
    _sweep_files.clear()


def deferred_run(plan: RunPlan) -> tuple[Run, dict[str, str], Any] | None:
    """A new run as data, for the trial's own process to make and start (:func:`luigi_guild.run.process.start_deferred`).

    Returns ``(run, env, (cmd, setup))``: the run to be (not made yet), its
    process's environment and command, and the files to write as
    :func:`luigi_guild.run.launcher.spawn` takes them. They are those
    :func:`create_run` and :func:`luigi_guild.run.process.start` write, and
    the run is put in place the same way (assembled under a hidden name, then
    renamed). The source files are read once per operation definition (a
    sweep's trials get the files as they were at its first trial). None when
    the plan needs more than files (dependencies, config flags, a comment, a
    proto run, a large source tree) or a process the launcher cannot start:
    such runs are made by :func:`create_run`.
    """
    from luigi_guild.run import process
    from luigi_guild.store.rundir import marker_template

    cmd = plan.cmd()
    if not process.deferrable(plan, cmd):
        return None

    opdef = plan.opdef
    if (opdef is None or plan.restart is not None or plan.upstream or opdef.file_requires or plan.comment
            or plan.proto is not None or plan.force_sourcecode is not None):
        return None
    if ((plan.op_attr.get("op-cmd") or {}).get("flags-dest") or "").startswith("config:"):
        return None
    files = _files_for(plan)
    if files is None:
        return None
    run_id = new_run_id()
    runs_root = home.runs_dir()
    if not os.path.isdir(runs_root):
        try:
            os.makedirs(runs_root, exist_ok=True)
        except OSError as e:
            raise GuildError("cannot create run in %s: %s" % (runs_root, e.strerror or e)) from None
    attrs = _init_attrs(run_id, plan, cmd)
    if files.snapshot is not None:
        attrs["sourcecode_digest"] = files.snapshot.digest
    attrs["deps"] = {}
    run = Run(run_id, os.path.join(runs_root, run_id))
    env = child_env(run, plan)
    # No PENDING: the LOCK naming the trial's process is written first, so it names the creator of
    # an unfinished creation dir (see clean_stale_tmp) and the run is running once in place. A
    # PENDING made and removed for each trial would also leave a freed inode behind it, which
    # slows the making of new files on ext4 without a journal (it passes over recently freed ones).
    ops: list[tuple[Any, ...]] = [("d", ".guild"), ("d", ".guild/attrs"), ("m", ".guild/LOCK")]
    for name, value in attrs.items():
        ops.append(("f", ".guild/attrs/" + name, files.encode(name, value), 0o600, False))
    ops.append(("f", ".guild/attrs/env", files.encode_env(process.env_attr(env)), 0o600, False))
    made = {"", ".guild", ".guild/attrs"}
    for rel, data, mode, _sha, _src in files.snapshot.files if files.snapshot is not None else []:
        parts = rel.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            if d not in made:
                made.add(d)
                ops.append(("d", d))
        ops.append(("f", rel, data, mode, True))
    ops.append(("f", ".guild/manifest", files.manifest, 0o644, False))
    ops.append(("f", ".guild/opref", plan.opref.encode().encode("utf-8"), 0o600, False))
    ops += process.start_files()
    tmp = os.path.join(runs_root, "%s%s-%s" % (TMP_PREFIX, run_id, os.urandom(4).hex()))
    return run, env, (cmd, (tmp, run.path, ops, marker_template()))


def clean_stale_tmp(runs_root: str, now: float | None = None) -> list[str]:
    """Remove creation dirs left by interrupted creations; returns the names removed.

    Only old ones go: a dir whose ``PENDING`` (or, for a trial that makes
    its own run, ``LOCK``) names a process that is gone and is older than a
    minute, or one with no readable creator older than a day. A creation in
    progress is never touched.
    """
    import shutil

    now = time.time() if now is None else now
    removed: list[str] = []
    try:
        names = [n for n in os.listdir(runs_root) if n.startswith(TMP_PREFIX)]
    except OSError:
        return removed
    for name in names:
        path = os.path.join(runs_root, name)
        try:
            age = now - os.lstat(path).st_mtime
        except OSError:
            continue  # renamed into place (or removed) since the listing
        marker: bytes | None = None
        try:
            for sentinel in ("PENDING", "LOCK"):
                try:
                    with open(os.path.join(path, ".guild", sentinel), "rb") as f:
                        marker = f.read(128)
                    break
                except FileNotFoundError:
                    continue
        except OSError:
            continue
        if marker:
            stale = age > STALE_TMP_AGE and not marker_alive(marker)
        else:
            stale = age > STALE_TMP_AGE_UNKNOWN
        if stale and os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(name)
    return removed


def _write_init_attrs(run: Run, plan: RunPlan) -> None:
    run.write_attrs(_init_attrs(run.id, plan))  # one open of .guild/attrs for all (each still written atomically)
    _add_comment(run, plan)


def _init_attrs(run_id: str, plan: RunPlan, cmd: list[str] | None = None) -> dict[str, Any]:
    """The attrs a new run starts with (``cmd``: ``plan.cmd()``, when the caller has it)."""
    attrs: dict[str, Any] = {"id": run_id, "initialized": now_us(), "flags": plan.flags, "user_flags": plan.user_flags}
    if plan.label:
        attrs["label"] = plan.label
    if plan.tags:
        attrs["tags"] = plan.tags
    if plan.opdef is not None:
        attrs.update(plan.opdef.run_attrs)
    attrs.update({"cmd": cmd if cmd is not None else plan.cmd(), "op": plan.op_attr, "run_params": plan.run_params})
    attrs.update(_host_attrs())
    return attrs


_host: list[dict[str, Any]] = []


def _host_attrs() -> dict[str, Any]:
    """``host``, ``user`` and ``platform``: looked up once per process."""
    if not _host:
        import getpass
        import platform

        uname = os.uname()
        _host.append({
            "host": uname.nodename,  # what socket.gethostname() returns
            "user": getpass.getuser(),
            "platform": {
                "architecture": uname.machine,
                "cpus": os.cpu_count(),
                "python_version": platform.python_version(),
                "uname": " ".join(uname),
            },
        })
    return {k: (dict(v) if isinstance(v, dict) else v) for k, v in _host[0].items()}


def write_config_flags(run: Run, plan: RunPlan) -> None:
    """For ``flags-dest: config:FILE``: the run's copy of FILE with its flag values."""
    dest = (plan.op_attr.get("op-cmd") or {}).get("flags-dest") or ""
    if not dest.startswith("config:"):
        return
    from luigi_guild.project import configflags

    name = dest[len("config:") :]
    target = os.path.join(run.path, name)
    src = target if os.path.exists(target) else os.path.join(plan.project_dir or "", name)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    configflags.write(src, target, plan.flags)


def _add_comment(run: Run, plan: RunPlan) -> None:
    """The ``--comment`` of ``guild run``, added to the run's comments."""
    if plan.comment:
        from luigi_guild.store import meta

        user, host = meta.comment_author()
        meta.add_comment(run, plan.comment, user, host, now_us())


def _rewrite_for_restart(run: Run, plan: RunPlan) -> None:
    run.mark_pending()
    run.remove("STAGED")
    run.write_attr("flags", plan.flags)
    run.write_attr("user_flags", plan.user_flags)
    if plan.label:
        run.write_attr("label", plan.label)
    else:
        run.del_attr("label")
    _add_comment(run, plan)
    write_config_flags(run, plan)
    run.write_attr("cmd", plan.cmd())
    run.write_attr("run_params", plan.run_params)
    run.del_attr("exit_status")
    run.del_attr("stopped")
    if plan.force_sourcecode is not None:
        prior = [e[1] for e in manifest.read(run.path) or [] if e[0] == "s" and len(e) > 1]
        manifest.append(run.path, copy_sourcecode(run, plan, prior))


def stage(run: Run, plan: RunPlan) -> None:
    """Finish a created run as ``staged``: ``ENV`` written, ready for ``--start``."""
    env = child_env(run, plan)
    lines = sorted("export %s=%s" % (k, shlex.quote(v)) for k, v in env.items() if k not in ("PWD", "_"))
    run.write_file(".guild/ENV", "\n".join(lines) + "\n")
    run.write_attr("started", now_us())
    run.touch("STAGED")
    run.remove("PENDING")


def prepare_restart_run(plan: RunPlan) -> Run:
    """Rewrite a restart run's attrs for a new start; returns the run."""
    assert plan.restart is not None
    from luigi_guild.run import deps

    again = deps.choose_again(plan)  # ``always-resolve`` requirements: their runs are chosen again
    try:
        _rewrite_for_restart(plan.restart, plan)
        deps.place_again(plan, plan.restart, again)
    except OSError as e:
        raise GuildError("cannot restart run %s: %s" % (plan.restart.id, e.strerror or e)) from None
    return plan.restart
