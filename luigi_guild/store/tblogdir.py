"""A TensorBoard log directory mirroring runs: links to their event files, plus hparams, time and image events.

Layout (as ``guild tensorboard`` lays it out): one directory per run named
``<short id> <op> <YYYY-MM-DD HH:MM:SS>[ <label>]`` (no path separators;
cut so the log dir plus the name stay within 148 characters, as Guild
cuts it), and in it, for every directory of the run holding event files, the same
directory with a symbolic link to each event file. Next to the links go
``events.out.tfevents.0000000000.hparams`` (the HParams experiment and the
run's session: flags plus ``sourcecode``) and, once the run has stopped,
``events.out.tfevents.9999999999.time`` (scalar ``time``: seconds the run
took). Images of the run become image summaries under ``.images``.
:meth:`LogDir.refresh` brings the directory up to date with a run list:
runs no longer listed are removed, new event files are linked.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import struct
import time
from typing import Any, Callable, Iterable

from luigi_guild.model.table import format_timestamp
from luigi_guild.store import eventfiles
from luigi_guild.store.rundir import Run

HPARAMS_NAME = "events.out.tfevents.0000000000.hparams"
TIME_NAME = "events.out.tfevents.9999999999.time"
IMAGES_DIR = ".images"
IMAGE_EXTS = (".gif", ".jpeg", ".jpg", ".png", ".tif", ".tiff")
MAX_IMAGES = 100
SOURCECODE_HPARAM = "sourcecode"
TIME_METRIC = "time"
# Guild caps a run's log path (log dir + name) at 148 characters (Windows' 248 less 100 for files below it).
MAX_RUN_PATH = 148


def safe_filename(name: str) -> str:
    return re.sub(r"[/\\\0]+", "_", name)


def run_name(run: Run, label: str | None = None) -> str:
    """A run's directory name in the log dir: short id, operation, start time and label (the run's by default)."""
    try:
        opref = run.opref
        op = "%s:%s" % (opref.model_name, opref.op_name) if opref.model_name else opref.op_name
    except (OSError, ValueError):
        op = run.op_name
    parts = [run.short_id, op, format_timestamp(run.get("started"))]
    label = run.label if label is None else label
    if label:
        parts.append(label)
    return safe_filename(" ".join(p for p in parts if p))


def label_from_flags(run: Run, names: list[str]) -> str:
    """``name=value`` for each of ``names`` (``--run-name-flags``), rendered as a label template."""
    from luigi_guild.model.flags import render_label

    if not names:
        return ""
    return render_label(" ".join("%s=${%s}" % (n, n) for n in names), run.flags or {})


def _event_files(root: str) -> Iterable[str]:
    """Event files of a run, relative to it (links to other dirs are not followed)."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            if eventfiles.EVENTS_MARK in name:
                yield os.path.relpath(os.path.join(dirpath, name), root)


def _write_events(path: str, events: list[Any]) -> None:
    from tensorboard.compat.proto import event_pb2

    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        for ev in [event_pb2.Event(wall_time=time.time(), file_version="brain.Event:2")] + events:
            f.write(eventfiles.frame_record(ev.SerializeToString()))
    os.replace(tmp, path)


def _summary_event(tag: str, plugin_data: Any, metadata_mod: Any) -> Any:
    from tensorboard.compat.proto import event_pb2, summary_pb2

    meta = metadata_mod.create_summary_metadata(plugin_data)
    value = summary_pb2.Summary.Value(tag=tag, metadata=meta, tensor=metadata_mod.NULL_TENSOR)
    return event_pb2.Event(wall_time=time.time(), step=0, summary=summary_pb2.Summary(value=[value]))


def _hparam_value(val: Any) -> Any:
    if isinstance(val, bool) or isinstance(val, (int, float, str)):
        return val
    return str(val)


class LogDir:
    """A log directory kept in step with a list of runs."""

    def __init__(
        self,
        path: str,
        hparams: bool = True,
        images: bool = True,
        name_for: Callable[[Run], str] | None = None,
        warn: Callable[[str], None] | None = None,
    ):
        self.path = path
        self.hparams = hparams
        self.images = images
        self.name_for = name_for or run_name
        self.warn = warn or (lambda msg: None)
        self._experiment: tuple[dict[str, set], set[str]] | None = None
        self._runs_digest: str | None = None

    # ---------------------------------------------------------------- refresh

    def refresh(self, runs: list[Run]) -> None:
        """Make the log dir mirror ``runs``: remove runs no longer listed, link new event files."""
        if self.hparams:
            self._update_experiment(runs)
        names = {}
        room = max(MAX_RUN_PATH - len(os.path.join(self.path, "")), len(runs[0].short_id) if runs else 8)
        for run in runs:
            names[run.id] = safe_filename(self.name_for(run))[:room]
        wanted = set(names.values())
        try:
            existing = os.listdir(self.path)
        except OSError:
            existing = []
        for name in existing:
            if name not in wanted:
                shutil.rmtree(os.path.join(self.path, name), ignore_errors=True)
        for run in runs:
            run_logdir = os.path.join(self.path, names[run.id])
            os.makedirs(run_logdir, exist_ok=True)
            self._refresh_run(run, run_logdir)

    def _refresh_run(self, run: Run, run_logdir: str) -> None:
        for rel in _event_files(run.path):
            link = os.path.join(run_logdir, rel)
            if os.path.lexists(link):
                continue
            link_dir = os.path.dirname(link)
            os.makedirs(link_dir, exist_ok=True)
            if self.hparams and not os.path.exists(os.path.join(link_dir, HPARAMS_NAME)):
                self._write_hparams(run, link_dir)
            os.symlink(os.path.join(run.path, rel), link)
        self._link_run_files(run, run_logdir)
        if self.images:
            self._refresh_images(run, run_logdir)
        took = _run_time(run)
        if took is not None:
            for dirpath, _dirs, files in os.walk(run_logdir):
                if HPARAMS_NAME in files and TIME_NAME not in files:
                    self._write_time(dirpath, took)
        # Links whose event file went away (a run's file deleted) are dropped.
        for dirpath, _dirs, files in os.walk(run_logdir):
            for name in files:
                p = os.path.join(dirpath, name)
                if os.path.islink(p) and not os.path.exists(p):
                    os.remove(p)

    def _link_run_files(self, run: Run, run_logdir: str) -> None:
        """Link the run's other files (not its source code copy nor .guild), for plugins that read them."""
        from luigi_guild.store import manifest

        source = {os.path.normpath(e[1]) for e in manifest.read(run.path) or [] if len(e) > 1 and e[0] == "s"}
        for dirpath, dirnames, filenames in os.walk(run.path):
            rel_dir = os.path.relpath(dirpath, run.path)
            if rel_dir == ".":
                dirnames[:] = [d for d in dirnames if d != ".guild"]
            for name in filenames:
                rel = os.path.normpath(os.path.join(rel_dir, name))
                link = os.path.join(run_logdir, rel)
                if rel in source or os.path.lexists(link):
                    continue
                os.makedirs(os.path.dirname(link), exist_ok=True)
                os.symlink(os.path.join(run.path, rel), link)

    # ---------------------------------------------------------------- hparams

    def _update_experiment(self, runs: list[Run]) -> None:
        digest = hashlib.md5("\n".join(sorted(r.id for r in runs)).encode()).hexdigest()
        if not runs or digest == self._runs_digest:
            return
        self._runs_digest = digest
        hparams: dict[str, set] = {}
        metrics = {TIME_METRIC}
        for run in runs:
            for name, val in (run.flags or {}).items():
                hparams.setdefault(str(name), set()).add(_hparam_value(val))
            hparams.setdefault(SOURCECODE_HPARAM, set()).add(str(run.get("sourcecode_digest") or "")[:8])
            metrics.update(_run_metric_tags(run))
        if self._experiment is None:
            self._experiment = (hparams, metrics)
            return
        old_hparams, old_metrics = self._experiment
        added = sorted(set(hparams) - set(old_hparams))
        if added:
            self.warn(
                "Runs found with new hyperparameters: %s. These hyperparameters will NOT appear in the "
                "HPARAMS plugin. Restart this command to view them." % ", ".join(added)
            )
        new_metrics = sorted(metrics - old_metrics)
        if new_metrics:
            self.warn(
                "Runs found with new metrics: %s. These runs will NOT appear in the HPARAMS plugin. "
                "Restart this command to view them." % ", ".join(new_metrics)
            )

    def _write_hparams(self, run: Run, logdir: str) -> None:
        from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2

        events = []
        if self._experiment is not None:
            hparams, metrics = self._experiment
            infos = [_hparam_info(name, vals, api_pb2) for name, vals in sorted(hparams.items())]
            experiment = api_pb2.Experiment(
                hparam_infos=infos,
                metric_infos=[api_pb2.MetricInfo(name=api_pb2.MetricName(tag=m)) for m in sorted(metrics)],
            )
            events.append(
                _summary_event(metadata.EXPERIMENT_TAG, plugin_data_pb2.HParamsPluginData(experiment=experiment), metadata)
            )
        start = plugin_data_pb2.SessionStartInfo(group_name="%s %s" % (run.short_id, run.op_name))
        started = run.get("started")
        if isinstance(started, (int, float)):
            start.start_time_secs = started / 1e6
        values = dict(run.flags or {})
        values[SOURCECODE_HPARAM] = str(run.get("sourcecode_digest") or "")[:8]
        for name, val in values.items():
            val = _hparam_value(val)
            if isinstance(val, bool):
                start.hparams[str(name)].bool_value = val
            elif isinstance(val, (int, float)):
                start.hparams[str(name)].number_value = float(val)
            else:
                start.hparams[str(name)].string_value = str(val)
        events.append(
            _summary_event(metadata.SESSION_START_INFO_TAG, plugin_data_pb2.HParamsPluginData(session_start_info=start), metadata)
        )
        status = {
            "completed": api_pb2.STATUS_SUCCESS,
            "error": api_pb2.STATUS_FAILURE,
            "terminated": api_pb2.STATUS_FAILURE,
            "running": api_pb2.STATUS_RUNNING,
        }.get(str(run.status), api_pb2.STATUS_UNKNOWN)
        end = plugin_data_pb2.SessionEndInfo(status=status)
        stopped = run.get("stopped")
        if isinstance(stopped, (int, float)):
            end.end_time_secs = stopped / 1e6
        events.append(
            _summary_event(metadata.SESSION_END_INFO_TAG, plugin_data_pb2.HParamsPluginData(session_end_info=end), metadata)
        )
        _write_events(os.path.join(logdir, HPARAMS_NAME), events)

    def _write_time(self, logdir: str, took: float) -> None:
        from tensorboard.compat.proto import event_pb2, summary_pb2

        summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=TIME_METRIC, simple_value=took)])
        _write_events(os.path.join(logdir, TIME_NAME), [event_pb2.Event(wall_time=time.time(), step=0, summary=summary)])

    # ---------------------------------------------------------------- images

    def _refresh_images(self, run: Run, run_logdir: str) -> None:
        images_dir = os.path.join(run_logdir, IMAGES_DIR)
        count = len(_image_digests(images_dir))
        for rel in _image_files(run.path):
            digest = hashlib.md5(rel.encode("utf-8", "surrogateescape")).hexdigest()
            latest = _latest_image_event(images_dir, digest)
            src = os.path.join(run.path, rel)
            if latest is None:
                if count >= MAX_IMAGES:
                    continue
                count += 1
            elif _mtime(src) <= _mtime(latest):
                continue
            os.makedirs(images_dir, exist_ok=True)
            try:
                with open(src, "rb") as f:
                    data = f.read()
            except OSError:
                continue
            self._write_image(images_dir, digest, rel, data)

    def _write_image(self, images_dir: str, digest: str, tag: str, data: bytes) -> None:
        from tensorboard.compat.proto import event_pb2, summary_pb2

        width, height = _image_size(data)
        image = summary_pb2.Summary.Image(height=height, width=width, encoded_image_string=data)
        summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, image=image)])
        stamp = _next_stamp(images_dir)
        name = "events.out.tfevents.%010d.image.%s" % (stamp, digest)
        _write_events(os.path.join(images_dir, name), [event_pb2.Event(wall_time=time.time(), step=0, summary=summary)])


def _hparam_info(name: str, vals: set, api_pb2: Any) -> Any:
    info = api_pb2.HParamInfo(name=name)
    if vals and all(isinstance(v, bool) for v in vals):
        info.type = api_pb2.DATA_TYPE_BOOL
    elif vals and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
        info.type = api_pb2.DATA_TYPE_FLOAT64
    else:
        info.type = api_pb2.DATA_TYPE_STRING
        info.domain_discrete.extend(sorted(str(v) for v in vals))
    return info


def _run_metric_tags(run: Run) -> set[str]:
    from luigi_guild.store import scalars as runscalars

    tags = set()
    for key in runscalars.last_values(run):
        _prefix, tag = runscalars.split_key(key)
        tags.add(tag)
    return tags


def _run_time(run: Run) -> float | None:
    started, stopped = run.get("started"), run.get("stopped")
    if not isinstance(started, (int, float)) or not isinstance(stopped, (int, float)):
        return None
    return (stopped - started) / 1e6


def _image_files(root: str) -> Iterable[str]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            p = os.path.join(dirpath, name)
            if os.path.splitext(name)[1].lower() in IMAGE_EXTS and not os.path.islink(p):
                yield os.path.relpath(p, root)


def _image_digests(images_dir: str) -> set[str]:
    try:
        return {os.path.splitext(n)[1] for n in os.listdir(images_dir)}
    except OSError:
        return set()


def _latest_image_event(images_dir: str, digest: str) -> str | None:
    try:
        names = [n for n in os.listdir(images_dir) if n.endswith("." + digest)]
    except OSError:
        return None
    return os.path.join(images_dir, max(names)) if names else None


def _next_stamp(images_dir: str) -> int:
    stamps = [-1]
    for n in os.listdir(images_dir):
        m = re.search(r"tfevents\.([0-9]+)\.", n)
        if m:
            stamps.append(int(m.group(1)))
    return max(stamps) + 1


def _mtime(path: str) -> float:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return 0.0


def _image_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a PNG or GIF header; (0, 0) for other formats (TensorBoard reads the bytes)."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        w, h = struct.unpack(">II", data[16:24])
        return int(w), int(h)
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        w, h = struct.unpack("<HH", data[6:10])
        return int(w), int(h)
    return 0, 0


def export_scalars(runs: list[Run], out: Any) -> int:
    """Write every scalar event of ``runs`` as CSV ``run,path,tag,value,step`` to ``out``; the row count."""
    import csv

    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["run", "path", "tag", "value", "step"])
    rows = 0
    for run in runs:
        for prefix, dir_path, names in eventfiles.source_files(run.path):
            path = prefix or "."
            for name in names:
                for tag, value, step in eventfiles.read_file(os.path.join(dir_path, name)):
                    writer.writerow([run.id, path, tag, value, step])
                    rows += 1
    return rows
