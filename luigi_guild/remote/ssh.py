"""One SSH remote as a :class:`~luigi_guild.remote.host.GuildHost`: its ``guild`` and file copies over SSH.

Nothing here shells out locally to ``ssh``, ``scp`` or ``rsync``. Remote
commands are POSIX shell scripts in which every value coming from a caller
(arguments, env values, paths) is quoted with :func:`shlex.quote`. Files
travel as tar archives (:mod:`luigi_guild.remote.archive`) through the
stdin/stdout of a remote ``tar`` (no archive file is ever left on the remote).
Opening the connection (keys, host keys, connect errors) is
:mod:`luigi_guild.remote.sshconnect`.

Commands run on a session channel of one Paramiko connection per host; only
a command that forwards the local stdin (answers to the remote's prompts)
goes through Fabric, imported then (its import costs a few tenths of a
second, a cost every ``-r`` call used to pay).

Every failure surfaces as a single-line :class:`GuildError` naming the remote.
Import this module only when a remote is actually used: it imports Paramiko.
"""

from __future__ import annotations

import codecs
import errno
import os
import posixpath
import re
import select
import shlex
import shutil
import sys
import tarfile
import tempfile
import time
import zlib
from typing import IO, Any, Optional, Sequence

from luigi_guild.model.errors import GuildError
from luigi_guild.remote.archive import check_member, extract_tar, is_excluded, write_tar
from luigi_guild.remote.config import RemoteConfig
from luigi_guild.remote.host import Direction, GuildCall, GuildHost, Members, RemoteResult, last_line, one_line, strerror
from luigi_guild.remote.sshconnect import fabric_connection, known_hosts_path, open_connection

# After sshconnect, which imports Paramiko without its costly optional Invoke import.
import paramiko  # type: ignore[import-untyped]  # noqa: E402

# ``is_excluded`` and ``RemoteResult`` are part of this module's interface too.
__all__ = ["EXIT_GUILD_NOT_FOUND", "RemoteHost", "RemoteResult", "is_excluded", "sh_path"]

# Exit code used by our remote scripts when the venv or `guild` is missing
# (the shell's own "command not found" code).
EXIT_GUILD_NOT_FOUND = 127
# Exit code used by our remote scripts when a directory to archive is missing.
_EXIT_NO_DIR = 3

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_TILDE_USER = re.compile(r"~[A-Za-z0-9._-]+\Z")


def sh_path(path: str) -> str:
    """A shell word for a remote path.

    ``~``, ``~/x`` and relative paths are anchored at the remote ``$HOME``;
    ``~user/x`` keeps an unquoted ``~user`` (validated) so the shell expands it.
    Everything else is quoted with :func:`shlex.quote`.
    """
    if path.startswith("/"):
        return shlex.quote(path)
    head, sep, rest = path.partition("/")
    if head == "~":
        base = '"$HOME"'
    elif _TILDE_USER.match(head):
        base = head
    else:
        base, rest, sep = '"$HOME"', path, "/"
    rest = rest.strip("/")
    return base + "/" + shlex.quote(rest) if rest else base


def _sftp_path(path: str) -> Optional[str]:
    """The SFTP form of ``path`` (SFTP resolves relative paths from $HOME), or None for ``~user``."""
    if path == "~":
        return "."
    if path.startswith("~/"):
        return path[2:] or "."
    if path.startswith("~"):
        return None
    return path


class RemoteHost(GuildHost[RemoteConfig]):
    """A connection to one configured SSH remote.

    Connects lazily on first use (or on ``with RemoteHost(cfg) as host``).
    Its :attr:`guild_home` is as configured (``~`` and relative: from the
    remote $HOME).
    """

    def __init__(self, config: RemoteConfig):
        super().__init__(config)
        self._conn: Optional[paramiko.SSHClient] = None
        self._fabric: Any = None
        self._sftp: Optional[paramiko.SFTPClient] = None

    @property
    def known_hosts_path(self) -> str:
        """The known-hosts file this remote checks and records host keys in."""
        return known_hosts_path(self.config)

    # -------------------------------------------------------------- connection

    def connect(self) -> None:
        """Open the SSH connection (no-op when already open)."""
        if self._conn is not None:
            transport = self._conn.get_transport()
            if transport is not None and transport.is_active():
                return
            self._conn.close()
            self._fabric = None
        self._conn = open_connection(self.config)

    def close(self) -> None:
        """Close the SFTP session and the connection."""
        if self._sftp is not None:
            try:
                self._sftp.close()
            except Exception:  # noqa: BLE001 - closing is best effort
                pass
            self._sftp = None
        self._fabric = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _connection(self) -> paramiko.SSHClient:
        self.connect()
        assert self._conn is not None
        return self._conn

    def _sftp_client(self) -> paramiko.SFTPClient:
        if self._sftp is None:
            conn = self._connection()
            try:
                self._sftp = conn.open_sftp()
            except Exception as e:  # noqa: BLE001
                raise self._error("cannot open SFTP session: %s" % one_line(e)) from None
        return self._sftp

    # ---------------------------------------------------------------- commands

    def guild_script(self, args: Sequence[str], call: Optional[GuildCall] = None, **options: Any) -> str:
        """The remote shell script that runs ``guild ARGS`` (every value quoted).

        ``call`` (default: ``GuildCall(**options)``) gives ``env``, exported
        there; ``in_guild_home`` runs it with the remote Guild home (created if
        needed) as the working directory, so relative paths in ARGS are
        relative to it. ``merge_stderr`` sends the command's stderr to its
        stdout so that both arrive in the order they were written.
        """
        if call is None:
            call = GuildCall(**options)
        c = self.config
        lines = ["set -e"]
        if c.venv_activate:
            lines.append(c.venv_activate)
        elif c.venv_path:
            activate = sh_path(posixpath.join(c.venv_path, "bin", "activate"))
            lines.append("[ -f %s ] || exit %d" % (activate, EXIT_GUILD_NOT_FOUND))
            lines.append(". %s" % activate)
        lines.append("export COLUMNS=%d" % shutil.get_terminal_size().columns)
        lines.append("export GUILD_HOME=%s" % sh_path(c.guild_home))
        for key, val in (call.env or {}).items():
            if not _ENV_NAME.match(key):
                raise ValueError("invalid environment variable name: %r" % key)
            lines.append("export %s=%s" % (key, shlex.quote(str(val))))
        lines.append("command -v guild >/dev/null 2>&1 || exit %d" % EXIT_GUILD_NOT_FOUND)
        if call.in_guild_home:
            lines.append('mkdir -p "$GUILD_HOME" && cd "$GUILD_HOME"')
        redirect = " 2>&1" if call.merge_stderr else ""
        lines.append("exec guild" + "".join(" " + shlex.quote(str(a)) for a in args) + redirect)
        return "\n".join(lines)

    def _run(self, args: Sequence[str], call: GuildCall) -> RemoteResult:
        """Run ``guild ARGS`` on the remote with its venv and GUILD_HOME.

        ``stream`` copies remote stdout/stderr to the local ones as it arrives
        (output is captured either way). A missing venv or ``guild`` raises
        GuildError. ``in_guild_home`` and ``merge_stderr``: see
        :meth:`guild_script`. ``stdin`` forwards the local stdin (answers to
        the remote's prompts).
        """
        result = self._exec(self.guild_script(args, call), call.stream, call.timeout, call.stdin)
        if result.exit_code == EXIT_GUILD_NOT_FOUND:
            detail = " (check venv-path %s)" % self.config.venv_path if self.config.venv_path else (
                " (check venv-activate)" if self.config.venv_activate else " (check venv-path)"
            )
            raise self._error("guild command not found%s" % detail)
        return result

    def run_shell(
        self,
        script: str,
        stream: bool = False,
        timeout: Optional[float] = None,
        check: bool = True,
    ) -> RemoteResult:
        """Run a POSIX shell script on the remote (no venv, no GUILD_HOME).

        The caller is responsible for quoting: use :func:`shlex.quote` and
        :func:`sh_path` for every value. With ``check``, a non-zero exit raises.
        """
        result = self._exec(script, stream, timeout)
        if check and result.exit_code != 0:
            raise self._error("remote command failed with exit code %d%s" % (result.exit_code, last_line(result.stderr)))
        return result

    def _exec(self, script: str, stream: bool, timeout: Optional[float], stdin: bool = False) -> RemoteResult:
        if stdin and sys.stdin is not None:
            return self._exec_fabric(script, stream, timeout)
        conn = self._connection()
        try:
            chan = _session(conn)
            try:
                chan.exec_command(script)
                chan.shutdown_write()  # no input: a command reading its stdin sees end of file
                code, out, err = self._collect(chan, stream, timeout)
            finally:
                chan.close()
        except (paramiko.SSHException, EOFError, OSError) as e:
            raise self._lost(one_line(e) or type(e).__name__) from None
        if code < 0 and not self._transport_active():
            # The channel closed without an exit status and the connection is gone.
            raise self._lost("the command's session ended without an exit status")
        return RemoteResult(exit_code=code, stdout=out, stderr=err)

    def _collect(self, chan: paramiko.Channel, stream: bool, timeout: Optional[float]) -> tuple[int, str, str]:
        """Read ``chan`` to its end: (exit code, stdout, stderr), copied here as they arrive with ``stream``.

        A ``timeout`` closes the channel and raises; so does Ctrl-C (re-raised),
        which stops waiting at once (a detached run the command watched goes on).
        """
        deadline = time.monotonic() + timeout if timeout is not None else None
        outs = (_Sink(sys.stdout if stream else None), _Sink(sys.stderr if stream else None))
        try:
            while True:
                if chan.recv_ready():
                    outs[0].feed(chan.recv(1 << 16))
                elif chan.recv_stderr_ready():
                    outs[1].feed(chan.recv_stderr(1 << 16))
                elif chan.eof_received or chan.closed:
                    break
                else:
                    wait = 0.5
                    if deadline is not None:
                        wait = deadline - time.monotonic()
                        if wait <= 0:
                            raise self._error("command timed out after %g seconds" % (timeout or 0))
                        wait = min(wait, 0.5)
                    select.select([chan], [], [], wait)
            # Nothing arrives after the end of file; take what is still buffered.
            while chan.recv_ready():
                outs[0].feed(chan.recv(1 << 16))
            while chan.recv_stderr_ready():
                outs[1].feed(chan.recv_stderr(1 << 16))
            left = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            if not chan.status_event.wait(left):
                raise self._error("command timed out after %g seconds" % (timeout or 0))
        except KeyboardInterrupt:
            chan.close()
            raise
        code = chan.recv_exit_status()
        return code, outs[0].text(), outs[1].text()

    def _exec_fabric(self, script: str, stream: bool, timeout: Optional[float]) -> RemoteResult:
        """``_exec`` with the local stdin forwarded, through Fabric (imported now)."""
        import invoke

        if self._fabric is None:
            self._fabric = fabric_connection(self.config, self._connection())
        started = time.monotonic()
        try:
            res = self._fabric.run(
                script,
                hide=not stream,
                warn=True,
                pty=False,
                in_stream=sys.stdin,
                timeout=timeout,
                encoding="utf-8",
                out_stream=sys.stdout if stream else None,
                err_stream=sys.stderr if stream else None,
            )
        except invoke.exceptions.CommandTimedOut:
            raise self._error("command timed out after %g seconds" % (timeout or 0)) from None
        except invoke.exceptions.ThreadException as e:
            errs = [t.value for t in e.exceptions]
            raise self._lost("; ".join(one_line(x) for x in errs)) from None
        except (paramiko.SSHException, EOFError, OSError) as e:
            raise self._lost(one_line(e) or type(e).__name__) from None
        if timeout is not None and res.exited == -1 and time.monotonic() - started >= timeout:
            # Invoke can miss its own timeout when the kill races its check.
            raise self._error("command timed out after %g seconds" % timeout)
        if (res.exited is None or res.exited < 0) and not self._transport_active():
            # The channel closed without an exit status and the connection is gone.
            raise self._lost("the command's session ended without an exit status")
        return RemoteResult(exit_code=res.exited, stdout=res.stdout, stderr=res.stderr)

    def _transport_active(self) -> bool:
        """Whether the SSH connection is still up (after a command ended without an exit status)."""
        conn = self._conn
        transport = conn.get_transport() if conn is not None else None
        if transport is None or not transport.is_active():
            return False
        try:
            transport.send_ignore()
        except (paramiko.SSHException, EOFError, OSError):
            return False
        time.sleep(0.05)  # a reset peer shows on the next read
        return transport.is_active()

    def _stream(self, script: str, send: Optional[Any] = None, recv: Optional[Any] = None) -> tuple[int, str]:
        """Run ``script`` there with ``send`` (a binary file) as its stdin and its stdout copied into ``recv``.

        Archives travel this way, through the command's own channel: no file
        is left on the remote when the connection drops (its ``tar`` sees the
        pipe close and stops). Returns (exit code, stderr text).
        """
        conn = self._connection()
        try:
            chan = _session(conn)
            try:
                chan.exec_command(script)
                if send is not None:
                    while True:
                        data = send.read(1 << 16)
                        if not data:
                            break
                        chan.sendall(data)
                chan.shutdown_write()
                if recv is not None:
                    while True:
                        data = chan.recv(1 << 16)
                        if not data:
                            break
                        recv.write(data)
                err = chan.makefile_stderr("rb").read().decode("utf-8", "replace")
                code = chan.recv_exit_status()
            finally:
                chan.close()
        except (paramiko.SSHException, EOFError, OSError) as e:
            raise self._lost(one_line(e) or type(e).__name__) from None
        if (code is None or code < 0) and not self._transport_active():
            raise self._lost("the copy's session ended without an exit status")
        return code, err

    # ------------------------------------------------------------------ files

    def _remote_path(self, path: str) -> str:
        """A path usable over SFTP (``~user`` resolved with the remote shell)."""
        p = _sftp_path(path)
        if p is not None:
            return p
        return self.run_shell("printf '%%s' %s" % sh_path(path)).stdout

    def exists(self, path: str) -> bool:
        """Whether ``path`` exists on the remote (symlinks followed)."""
        sftp = self._sftp_client()
        try:
            sftp.stat(self._remote_path(path))
        except FileNotFoundError:
            return False
        except OSError as e:
            if e.errno == errno.ENOENT:
                return False
            raise self._error("cannot stat %s: %s" % (path, strerror(e))) from None
        return True

    def read_text(self, path: str, encoding: str = "utf-8") -> str:
        """Contents of a remote text file."""
        sftp = self._sftp_client()
        try:
            with sftp.open(self._remote_path(path), "rb") as f:
                data = f.read()
        except FileNotFoundError:
            raise self._error("%s does not exist" % path) from None
        except OSError as e:
            raise self._error("cannot read %s: %s" % (path, strerror(e))) from None
        return data.decode(encoding, errors="replace")

    def replace_dirs(self, staging: str, names: Sequence[str], dest_dir: str) -> None:
        """One remote script: each copied directory moved in with ``mv`` (the old one aside), then ``staging`` removed."""
        stage, dest = sh_path(staging), sh_path(dest_dir)
        lines = ["set -e"]
        for name in names:
            n = shlex.quote(check_member(name))
            lines.append("if [ -e %s/%s ] || [ -L %s/%s ]; then mv %s/%s %s/.old-%s; fi" % (dest, n, dest, n, dest, n, stage, n))
            lines.append("mv %s/%s %s/%s" % (stage, n, dest, n))
        script = "(%s); rc=$?; rm -rf %s; exit $rc" % ("\n".join(lines), stage)
        result = self._exec(script, stream=False, timeout=None)
        if result.exit_code != 0:
            raise self._error("cannot move runs into %s: exit code %d%s" % (dest_dir, result.exit_code, last_line(result.stderr)))

    def _copy_tree(self, direction: Direction, src: str, dest: str, exclude: list[str], members: Members) -> None:
        if direction == "put":
            self._put(src, dest, exclude, members)
        else:
            self._get(src, dest, exclude, members)

    def _put(self, local_dir: str, remote_dir: str, patterns: list[str], members: Members) -> None:
        """Copy the contents of ``local_dir`` into ``remote_dir`` (created if needed).

        Files travel as one gzip'd tar into the stdin of the
        remote ``tar`` (one remote command). ``members``: files, or
        directories copied whole.
        """
        if not os.path.isdir(local_dir):
            raise GuildError("%s is not a directory" % local_dir)
        member_list = [check_member(m) for m in members] if members is not None else None
        target = sh_path(remote_dir)
        script = "mkdir -p %s && tar -xzf - --no-same-owner -C %s" % (target, target)
        with tempfile.TemporaryFile() as f:
            write_tar(f, local_dir, patterns, member_list)
            f.seek(0)
            code, err = self._stream(script, send=f)
        if code != 0:
            raise self._error("cannot unpack into %s: exit code %d%s" % (remote_dir, code, last_line(err)))

    def _get(self, remote_dir: str, local_dir: str, patterns: list[str], members: Members) -> None:
        """Copy the contents of ``remote_dir`` into ``local_dir`` (created if needed).

        The remote ``tar`` packs the directory (one remote command, honouring
        the exclude ``patterns``), the archive comes back on its stdout and is
        unpacked locally; members that would land outside ``local_dir`` are
        refused. Missing ``members`` are skipped. Files that change while they
        are packed (a running run's output) are copied as read.
        """
        source = sh_path(remote_dir)
        excludes = "".join(" --exclude=%s" % shlex.quote("./" + p.lstrip("/")) for p in patterns)
        if members is None:
            what = " ."
        else:
            what = " --ignore-failed-read --" + "".join(" " + shlex.quote("./" + check_member(m)) for m in members)
        script = "\n".join(
            [
                "[ -d %s ] || exit %d" % (source, _EXIT_NO_DIR),
                # tar exits 1 when a file changed while it was read: the archive is still good.
                "cd %s && tar -czf - --warning=no-file-changed%s%s; rc=$?" % (source, excludes, what),
                "[ $rc -le 1 ] || exit $rc",
            ]
        )
        with tempfile.TemporaryFile() as f:
            code, err = self._stream(script, recv=f)
            if code == _EXIT_NO_DIR:
                raise self._error("directory %s does not exist" % remote_dir)
            if code != 0:
                raise self._error("cannot archive %s: exit code %d%s" % (remote_dir, code, last_line(err)))
            f.seek(0)
            os.makedirs(local_dir, exist_ok=True)
            try:
                extract_tar(f, local_dir, patterns)
            except (tarfile.TarError, EOFError, zlib.error) as e:
                raise self._error("bad archive from %s: %s" % (remote_dir, one_line(e))) from None


class _Sink:
    """One output stream of a remote command: kept as text, and copied to a local stream if given."""

    def __init__(self, copy_to: Optional[IO[str]]):
        self._copy_to = copy_to
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._parts: list[str] = []

    def feed(self, data: bytes) -> None:
        text = self._decoder.decode(data)
        if not text:
            return
        self._parts.append(text)
        if self._copy_to is not None:
            self._copy_to.write(text)
            self._copy_to.flush()

    def text(self) -> str:
        tail = self._decoder.decode(b"", final=True)
        if tail:
            self._parts.append(tail)
            if self._copy_to is not None:
                self._copy_to.write(tail)
                self._copy_to.flush()
        return "".join(self._parts)


def _session(conn: paramiko.SSHClient) -> paramiko.Channel:
    """A new session channel on ``conn`` (EOFError when it is not connected)."""
    transport = conn.get_transport()
    if transport is None or not transport.is_active():
        raise EOFError("not connected")
    return transport.open_session()
