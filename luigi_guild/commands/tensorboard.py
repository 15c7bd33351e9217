"""``guild tensorboard``: serve TensorBoard over a log directory that mirrors the selected runs."""

from __future__ import annotations

import os
import re
import signal
import sys
import time
from typing import Any

import click

from luigi_guild.commands.common import note
from luigi_guild.commands.completion import complete_runs
from luigi_guild.commands.filters import filter_options, pop_filter
from luigi_guild.model.errors import GuildError

DEFAULT_REFRESH = 5


@click.command("tensorboard", context_settings={"help_option_names": ["--help"]})
@click.argument("runs", metavar="[RUN...]", nargs=-1, shell_complete=complete_runs)
@click.option("-h", "--host", metavar="HOST", default="127.0.0.1", show_default=True, help="Name or address to listen on.")
@click.option("-p", "--port", metavar="PORT", type=click.IntRange(0, 65535), help="Port to listen on (default: a free port).")
@click.option("--include-batch", is_flag=True, help="Include batch runs.")
@click.option(
    "--refresh-interval", metavar="SECONDS", type=click.IntRange(1), default=DEFAULT_REFRESH, show_default=True,
    help="How often to look for new runs and event files.",
)
@click.option("--run-name-flags", metavar="FLAGS", help="Name runs by these flags (comma or space separated) instead of their labels.")
@click.option("-n", "--no-open", is_flag=True, help="Do not open TensorBoard in a browser.")
@click.option("-O", "--tensorboard-option", "tb_options", metavar="OPTION=VALUE", multiple=True,
              help="Pass --OPTION=VALUE to TensorBoard (repeatable).")
@click.option("--skip-images", is_flag=True, help="Do not make image summaries of the runs' images.")
@click.option("--skip-hparams", is_flag=True, help="Do not write HParams data (flags and the time metric).")
@click.option("--tab", metavar="TAB", help="Open TensorBoard at TAB (e.g. scalars, hparams).")
@click.option("--export-scalars", metavar="PATH", help="Write every scalar as CSV to PATH ('-' for stdout) and exit.")
@click.option("--keep-logdir", is_flag=True, hidden=True)
@click.option("--test-logdir", is_flag=True, hidden=True)
@click.option("--runs-infile", metavar="PATH", hidden=True)
@click.option(
    "--dark-mode", is_flag=True, hidden=True,
    help="Accepted for Guild compatibility: TensorBoard's own settings switch it to a dark theme.",
)
@filter_options
def tensorboard(
    runs: tuple[str, ...],
    host: str,
    port: int | None,
    include_batch: bool,
    refresh_interval: int,
    run_name_flags: str | None,
    no_open: bool,
    tb_options: tuple[str, ...],
    skip_images: bool,
    skip_hparams: bool,
    tab: str | None,
    export_scalars: str | None,
    keep_logdir: bool,
    test_logdir: bool,
    runs_infile: str | None,
    dark_mode: bool = False,
    **kw: Any,
) -> None:
    """Show runs in TensorBoard (all runs the filters select, or RUN...).

    A temporary log directory holds one directory per run with links to the
    run's event files, plus HParams data (flags, source code digest and the
    run's time) and image summaries of the run's images. It follows new
    runs and files every --refresh-interval seconds and is removed when the
    command stops (Ctrl-C or SIGTERM).
    """
    options = _tb_options(tb_options)
    from luigi_guild.web import data as viewdata

    source = viewdata.RunSource.for_args(
        list(runs), pop_filter(kw, "tensorboard"), include_batch, "tensorboard"
    )

    def listed() -> list:
        if runs_infile:
            return _infile_runs(runs_infile, include_batch)
        return source.runs()

    if export_scalars:
        _export(listed(), export_scalars)
        return
    from luigi_guild.store import tblogdir

    names = [n for n in re.split(r"[ ,]", run_name_flags or "") if n]
    name_for = None
    if run_name_flags is not None:
        def name_for(run: Any) -> str:
            return tblogdir.run_name(run, tblogdir.label_from_flags(run, names))

    import tempfile

    path = tempfile.mkdtemp(prefix="guild-tensorboard-")
    logdir = tblogdir.LogDir(path, hparams=not skip_hparams, images=not skip_images, name_for=name_for,
                             warn=lambda msg: note("WARNING: " + msg))
    keep = keep_logdir or test_logdir
    stopping = _stop_on_signals()
    try:
        click.echo("Preparing runs for TensorBoard")
        logdir.refresh(listed())
        if test_logdir:
            click.echo("Initialized log dir %s" % path)
            return
        url = _serve(path, host, port, refresh_interval, options)
        if not no_open:
            import webbrowser

            webbrowser.open(url + ("#" + tab if tab else ""))
        try:
            while not stopping.wait(refresh_interval):
                try:
                    logdir.refresh(listed())
                except OSError as e:
                    note("WARNING: cannot refresh the log dir: %s" % e)
        except KeyboardInterrupt:
            pass
    finally:
        if keep:
            if not test_logdir:
                click.echo("TensorBoard logs saved in %s" % path)
        else:
            import shutil

            shutil.rmtree(path, ignore_errors=True)
    if stopping.signum:
        raise SystemExit(128 + stopping.signum)


class _Stop:
    """Set by SIGTERM/SIGHUP (and Ctrl-C), so the loop ends and the log dir is cleaned up."""

    def __init__(self) -> None:
        import threading

        self.event = threading.Event()
        self.signum = 0

    def wait(self, seconds: float) -> bool:
        return self.event.wait(seconds)

    def __call__(self, signum: int, _frame: Any) -> None:
        self.signum = signum
        self.event.set()


def _stop_on_signals() -> _Stop:
    stop = _Stop()
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, stop)
    return stop


def _tb_options(given: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for opt in given:
        name, sep, val = opt.partition("=")
        if not sep or not name:
            raise GuildError("invalid TensorBoard option %r - must be OPTION=VALUE" % opt)
        out[name.lstrip("-")] = val
    return out


def _infile_runs(path: str, include_batch: bool) -> list:
    from luigi_guild.store import query as runstore
    from luigi_guild.web.data import is_batch

    try:
        with open(path, encoding="utf-8") as f:
            ids = f.read().split()
    except OSError:
        return []
    wanted = set(ids)
    return [r for r in runstore.filtered_runs(None) if r.id in wanted and (include_batch or not is_batch(r))]


def _export(runs: list, dest: str) -> None:
    from luigi_guild.store import tblogdir

    if dest == "-":
        tblogdir.export_scalars(runs, sys.stdout)
        sys.stdout.flush()
        return
    parent = os.path.dirname(dest)
    try:
        if parent:
            os.makedirs(parent, exist_ok=True)
        with open(dest, "w", encoding="utf-8", newline="") as f:
            tblogdir.export_scalars(runs, f)
    except OSError as e:
        raise GuildError("error opening %s: %s" % (dest, e.strerror or e)) from None


def _free_port(host: str) -> int:
    import socket

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _serve(logdir: str, host: str, port: int | None, reload_interval: int, options: dict[str, str]) -> str:
    """Start TensorBoard's server (in its own threads) and return its URL."""
    import logging

    for name in ("tensorboard", "absl", "werkzeug"):
        logging.getLogger(name).setLevel(logging.ERROR)
    from tensorboard import program
    from tensorboard import version as tb_version

    port = port or _free_port(host)
    argv = [
        "tensorboard", "--logdir", logdir, "--host", host, "--port", str(port),
        "--reload_interval", str(reload_interval), "--load_fast", "false",
    ] + ["--%s=%s" % (name, val) for name, val in options.items()]
    board = program.TensorBoard()
    try:
        board.configure(argv=argv)
        board.launch()
    except (program.TensorBoardServerException, SystemExit, ValueError) as e:
        raise GuildError("cannot start TensorBoard: %s" % (getattr(e, "msg", None) or e)) from None
    url = "http://%s:%d" % ("[%s]" % host if ":" in host else host, port)
    note("Running TensorBoard %s at %s (Type Ctrl+C to quit)" % (tb_version.VERSION, url))
    return url
