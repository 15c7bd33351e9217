"""One SSH remote, reached with Fabric (Paramiko underneath).

Nothing here shells out locally to ``ssh``, ``scp`` or ``rsync``. Remote
commands are POSIX shell scripts in which every value coming from a caller
(arguments, env values, paths) is quoted with :func:`shlex.quote`.

Host keys: with ``host-key-check: yes`` (the default) the server key is looked
up in the remote's ``known-hosts`` file (default ``~/.ssh/known_hosts``, the
file OpenSSH uses). An unknown host is trusted on first use and its key is
appended to that file; a key that differs from the recorded one is refused.
``host-key-check: no`` accepts any key and records nothing.

Every failure surfaces as a single-line :class:`GuildError` naming the remote.
Import this module only when a remote is actually used: it imports Fabric.
"""

from __future__ import annotations

import errno
import fnmatch
import logging
import os
import posixpath
import re
import shlex
import shutil
import socket
import sys
import tarfile
import tempfile
import time
import uuid
import zlib
from dataclasses import dataclass
from typing import IO, Any, Iterable, Mapping, Optional, Sequence

import fabric
import invoke
import paramiko
from paramiko.ssh_exception import NoValidConnectionsError

from luigi_guild.model.errors import GuildError
from luigi_guild.remote.config import RemoteConfig, default_known_hosts

# Exit code used by our remote scripts when the venv or `guild` is missing
# (the shell's own "command not found" code).
EXIT_GUILD_NOT_FOUND = 127
# Exit code used by our remote scripts when a directory to archive is missing.
_EXIT_NO_DIR = 3

# Paramiko logs transport-thread failures (with tracebacks) at ERROR level; we
# report each failure as one GuildError line instead.
_paramiko_log = logging.getLogger("paramiko")
_paramiko_log.addHandler(logging.NullHandler())
_paramiko_log.propagate = False

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_TILDE_USER = re.compile(r"~[A-Za-z0-9._-]+\Z")


@dataclass(frozen=True)
class RemoteResult:
    """Outcome of a remote command: exit code and captured output."""

    exit_code: int
    stdout: str
    stderr: str


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


class _RecordingPolicy(paramiko.MissingHostKeyPolicy):
    """Trust an unknown host on first use and append its key to a known-hosts file."""

    def __init__(self, path: str):
        self.path = path

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        client.get_host_keys().add(hostname, key.get_name(), key)
        entry = paramiko.hostkeys.HostKeyEntry([hostname], key).to_line()
        directory = os.path.dirname(self.path)
        if directory:
            os.makedirs(directory, mode=0o700, exist_ok=True)
        prefix = ""
        try:
            with open(self.path, "rb") as f:
                f.seek(0, os.SEEK_END)
                if f.tell() > 0:
                    f.seek(-1, os.SEEK_END)
                    prefix = "" if f.read(1) == b"\n" else "\n"
        except FileNotFoundError:
            pass
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(prefix + entry)


class _AcceptPolicy(paramiko.MissingHostKeyPolicy):
    """Accept any host key without recording it (``host-key-check: no``)."""

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        return None


class _DetachingRemote(fabric.runners.Remote):
    """Fabric's remote runner, but Ctrl-C closes the channel so we stop at once.

    Without a pty Fabric re-raises the KeyboardInterrupt, and Invoke then
    waits for the output threads, that is for the remote command to end on its
    own. Closing the channel first ends them now; the remote command loses its
    output and stops (a detached run it was watching goes on).
    """

    def send_interrupt(self, interrupt: KeyboardInterrupt) -> None:
        if not self.using_pty:
            try:
                self.channel.close()
            except Exception:  # noqa: BLE001 - best effort on the way out
                pass
        super().send_interrupt(interrupt)


class RemoteHost:
    """A connection to one configured SSH remote.

    Connects lazily on first use (or on ``with RemoteHost(cfg) as host``).
    """

    def __init__(self, config: RemoteConfig):
        self.config = config
        self._conn: Optional[fabric.Connection] = None
        self._sftp: Optional[paramiko.SFTPClient] = None

    # ------------------------------------------------------------------ naming

    @property
    def name(self) -> str:
        """The remote's name from the config."""
        return self.config.name

    def _where(self) -> str:
        c = self.config
        user = c.user or _local_user()
        return "%s@%s:%s" % (user, c.host, c.port or 22)

    def _error(self, message: str, exit_code: int = 1) -> GuildError:
        return GuildError("remote %s: %s" % (self.name, message), exit_code=exit_code)

    # -------------------------------------------------------------- connection

    def __enter__(self) -> "RemoteHost":
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def connect(self) -> None:
        """Open the SSH connection (no-op when already open)."""
        if self._conn is not None and self._conn.is_connected:
            return
        c = self.config
        if c.private_key and not os.path.isfile(c.private_key):
            raise self._error("private key %s does not exist" % c.private_key)
        connect_kwargs: dict = {
            "banner_timeout": c.connect_timeout,
            "auth_timeout": c.connect_timeout,
        }
        if c.private_key:
            connect_kwargs.update(self._key_kwargs(c.private_key), look_for_keys=False, allow_agent=False)
        # Hermetic: no ~/.ssh/config, no /etc/fabric.yml or ~/.fabric.yml.
        fab_config = fabric.Config(
            lazy=True, ssh_config=paramiko.SSHConfig(), overrides={"runners": {"remote": _DetachingRemote}}
        )
        conn = fabric.Connection(
            c.host,
            user=c.user,
            port=c.port,
            config=fab_config,
            gateway=c.proxy,
            # Paramiko's overall handshake wait must outlast its banner wait, or a
            # silent server yields a confusing "No existing session" instead.
            connect_timeout=int(c.connect_timeout + 2.5),
            connect_kwargs=connect_kwargs,
        )
        self._setup_host_keys(conn.client)
        try:
            conn.open()
        except Exception as e:  # noqa: BLE001 - mapped to one line below
            conn.close()
            raise self._connect_error(e) from None
        self._conn = conn

    def _key_kwargs(self, path: str) -> dict:
        """Connect arguments for a private key file, its type detected from its contents.

        Loading the key here (rather than letting Paramiko try every key type
        in turn) keeps a refused key reported as an authentication failure.
        """
        from_path = getattr(paramiko.PKey, "from_path", None)
        if from_path is None:  # Paramiko < 3.2
            return {"key_filename": [path]}
        try:
            return {"pkey": from_path(path)}
        except paramiko.PasswordRequiredException:
            raise self._error("private key %s is passphrase-protected, which is not supported" % path) from None
        except (paramiko.SSHException, ValueError, OSError) as e:
            raise self._error("cannot read private key %s: %s" % (path, _strerror(e))) from None

    def _setup_host_keys(self, client: paramiko.SSHClient) -> None:
        c = self.config
        if not c.host_key_check:
            client.set_missing_host_key_policy(_AcceptPolicy())
            return
        path = self.known_hosts_path
        if os.path.exists(path):
            try:
                client.get_host_keys().load(path)
            except Exception as e:  # noqa: BLE001 - paramiko raises plain Exception subclasses
                raise self._error("cannot read known hosts file %s: %s" % (path, _one_line(e)))
        client.set_missing_host_key_policy(_RecordingPolicy(path))

    @property
    def known_hosts_path(self) -> str:
        """The known-hosts file this remote checks and records host keys in."""
        return self.config.known_hosts or default_known_hosts()

    def _connect_error(self, e: BaseException) -> GuildError:
        c = self.config
        where = "%s:%s" % (c.host, c.port or 22)
        if isinstance(e, paramiko.BadHostKeyException):
            fp = getattr(e.key, "fingerprint", None) or e.key.get_name()
            return self._error(
                "host key for %s does not match the key recorded in %s (got %s; possible "
                "man-in-the-middle attack): refusing to connect; if the host key really changed, "
                "remove the old entry from that file" % (where, self.known_hosts_path, fp)
            )
        if isinstance(e, paramiko.PasswordRequiredException):
            return self._error("private key %s is passphrase-protected, which is not supported" % c.private_key)
        if isinstance(e, paramiko.AuthenticationException):
            return self._error("authentication failed for %s (check 'user' and 'private-key')" % self._where())
        if isinstance(e, NoValidConnectionsError):
            errnos = {getattr(err, "errno", None) for err in e.errors.values()}
            if errnos == {errno.ECONNREFUSED}:
                return self._error("connection refused by %s" % where)
            first = next(iter(e.errors.values()), e)
            return self._error("cannot connect to %s: %s" % (where, _strerror(first)))
        if isinstance(e, socket.gaierror):
            return self._error("cannot resolve host '%s': %s" % (c.host, _strerror(e)))
        if isinstance(e, (socket.timeout, TimeoutError)):
            return self._error("timed out connecting to %s" % where)
        if isinstance(e, paramiko.SSHException):
            if "banner" in str(e).lower():
                cause = e.__cause__ or e.__context__
                if isinstance(cause, (socket.timeout, TimeoutError)):
                    return self._error(
                        "timed out waiting for the SSH greeting from %s after %g seconds" % (where, c.connect_timeout)
                    )
                return self._error("%s closed the connection before the SSH greeting (not an SSH server?)" % where)
            return self._error("SSH error talking to %s: %s" % (where, _one_line(e)))
        if isinstance(e, OSError):
            return self._error("cannot connect to %s: %s" % (where, _strerror(e)))
        if isinstance(e, EOFError):
            return self._error("connection closed by %s" % where)
        return self._error("cannot connect to %s: %s" % (where, _one_line(e) or type(e).__name__))

    def close(self) -> None:
        """Close the SFTP session and the connection."""
        if self._sftp is not None:
            try:
                self._sftp.close()
            except Exception:  # noqa: BLE001 - closing is best effort
                pass
            self._sftp = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _connection(self) -> fabric.Connection:
        self.connect()
        assert self._conn is not None
        return self._conn

    def _sftp_client(self) -> paramiko.SFTPClient:
        if self._sftp is None:
            conn = self._connection()
            try:
                self._sftp = conn.client.open_sftp()
            except Exception as e:  # noqa: BLE001
                raise self._error("cannot open SFTP session: %s" % _one_line(e)) from None
        return self._sftp

    # ---------------------------------------------------------------- commands

    def guild_script(
        self,
        args: Sequence[str],
        env: Optional[Mapping[str, str]] = None,
        in_guild_home: bool = False,
        merge_stderr: bool = False,
    ) -> str:
        """The remote shell script that runs ``guild ARGS`` (every value quoted).

        ``in_guild_home`` runs it with the remote Guild home (created if
        needed) as the working directory, so relative paths in ARGS are
        relative to it. ``merge_stderr`` sends the command's stderr to its
        stdout so that both arrive in the order they were written.
        """
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
        for key, val in (env or {}).items():
            if not _ENV_NAME.match(key):
                raise ValueError("invalid environment variable name: %r" % key)
            lines.append("export %s=%s" % (key, shlex.quote(str(val))))
        lines.append("command -v guild >/dev/null 2>&1 || exit %d" % EXIT_GUILD_NOT_FOUND)
        if in_guild_home:
            lines.append('mkdir -p "$GUILD_HOME" && cd "$GUILD_HOME"')
        redirect = " 2>&1" if merge_stderr else ""
        lines.append("exec guild" + "".join(" " + shlex.quote(str(a)) for a in args) + redirect)
        return "\n".join(lines)

    def run(
        self,
        args: Sequence[str],
        env: Optional[Mapping[str, str]] = None,
        stream: bool = False,
        timeout: Optional[float] = None,
        check: bool = False,
        in_guild_home: bool = False,
        merge_stderr: bool = False,
        stdin: bool = False,
    ) -> RemoteResult:
        """Run ``guild ARGS`` on the remote with its venv and GUILD_HOME.

        ``stream`` copies remote stdout/stderr to the local ones as it arrives
        (output is captured either way). A missing venv or ``guild`` raises
        GuildError; other non-zero exits are returned, or raised when ``check``.
        ``in_guild_home`` and ``merge_stderr``: see :meth:`guild_script`.
        ``stdin`` forwards the local stdin (answers to the remote's prompts).
        """
        script = self.guild_script(args, env, in_guild_home, merge_stderr)
        result = self._exec(script, stream, timeout, stdin)
        if result.exit_code == EXIT_GUILD_NOT_FOUND:
            detail = " (check venv-path %s)" % self.config.venv_path if self.config.venv_path else (
                " (check venv-activate)" if self.config.venv_activate else " (check venv-path)"
            )
            raise self._error("guild command not found%s" % detail)
        if check and result.exit_code != 0:
            cmd = args[0] if args else ""
            raise self._error(
                "'guild %s' failed with exit code %d%s" % (cmd, result.exit_code, _last_line(result.stderr)),
                exit_code=result.exit_code if result.exit_code > 0 else 1,
            )
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
            raise self._error("remote command failed with exit code %d%s" % (result.exit_code, _last_line(result.stderr)))
        return result

    def _exec(self, script: str, stream: bool, timeout: Optional[float], stdin: bool = False) -> RemoteResult:
        conn = self._connection()
        started = time.monotonic()
        try:
            res = conn.run(
                script,
                hide=not stream,
                warn=True,
                pty=False,
                in_stream=sys.stdin if stdin and sys.stdin is not None else False,
                timeout=timeout,
                encoding="utf-8",
                out_stream=sys.stdout if stream else None,
                err_stream=sys.stderr if stream else None,
            )
        except invoke.exceptions.CommandTimedOut:
            raise self._error("command timed out after %g seconds" % (timeout or 0)) from None
        except invoke.exceptions.ThreadException as e:
            errs = [t.value for t in e.exceptions]
            raise self._error("connection lost: %s" % "; ".join(_one_line(x) for x in errs)) from None
        except (paramiko.SSHException, EOFError, OSError) as e:
            raise self._error("connection lost: %s" % (_one_line(e) or type(e).__name__)) from None
        if timeout is not None and res.exited == -1 and time.monotonic() - started >= timeout:
            # Invoke can miss its own timeout when the kill races its check.
            raise self._error("command timed out after %g seconds" % timeout)
        return RemoteResult(exit_code=res.exited, stdout=res.stdout, stderr=res.stderr)

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
            raise self._error("cannot stat %s: %s" % (path, _strerror(e))) from None
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
            raise self._error("cannot read %s: %s" % (path, _strerror(e))) from None
        return data.decode(encoding, errors="replace")

    def _remote_tmp_path(self) -> str:
        """A fresh, unpredictable archive path in the remote /tmp."""
        return "/tmp/luigi-guild-%s.tar.gz" % uuid.uuid4().hex

    def _sftp_remove(self, path: str) -> None:
        try:
            self._sftp_client().remove(path)
        except (OSError, GuildError):
            pass

    def put_archive(
        self,
        local_dir: str,
        remote_dir: str,
        exclude: Iterable[str] = (),
        members: Optional[Sequence[str]] = None,
    ) -> None:
        """Copy the contents of ``local_dir`` into ``remote_dir`` (created if needed).

        Files travel as one gzip'd tar over SFTP and are unpacked with the
        remote ``tar`` (one remote command). ``exclude`` holds glob patterns
        matched against paths relative to ``local_dir`` (``*`` matches ``/``);
        a matching directory is skipped whole. ``members`` limits the copy to
        those relative paths (files, or directories copied whole). Existing
        remote files are overwritten, none are deleted.
        """
        patterns = list(exclude)
        if not os.path.isdir(local_dir):
            raise GuildError("%s is not a directory" % local_dir)
        member_list = [_check_member(m) for m in members] if members is not None else None
        sftp = self._sftp_client()
        tmp = self._remote_tmp_path()
        with tempfile.TemporaryFile() as f:
            _write_tar(f, local_dir, patterns, member_list)
            f.seek(0)
            try:
                with sftp.open(tmp, "wxb") as out:  # exclusive create: never follows a planted file
                    sftp.chmod(tmp, 0o600)
                    out.set_pipelined(True)
                    shutil.copyfileobj(f, out, 1 << 16)
            except OSError as e:
                self._sftp_remove(tmp)
                raise self._error("cannot upload archive: %s" % _strerror(e)) from None
        target = sh_path(remote_dir)
        q_tmp = shlex.quote(tmp)
        result = self.run_shell(
            "mkdir -p %s && tar -xzf %s --no-same-owner -C %s; rc=$?; rm -f %s; exit $rc"
            % (target, q_tmp, target, q_tmp),
            check=False,
        )
        if result.exit_code != 0:
            raise self._error(
                "cannot unpack into %s: exit code %d%s" % (remote_dir, result.exit_code, _last_line(result.stderr))
            )

    def get_archive(
        self,
        remote_dir: str,
        local_dir: str,
        exclude: Iterable[str] = (),
        members: Optional[Sequence[str]] = None,
    ) -> None:
        """Copy the contents of ``remote_dir`` into ``local_dir`` (created if needed).

        The remote ``tar`` packs the directory (one remote command, honouring
        ``exclude``: glob patterns relative to ``remote_dir``), the archive
        comes back over SFTP and is unpacked locally; members that would land
        outside ``local_dir`` are refused. ``members`` limits the copy to
        those relative paths (missing ones are skipped). Files that change
        while they are packed (a running run's output) are copied as read.
        Existing local files are overwritten, none are deleted.
        """
        patterns = list(exclude)
        sftp = self._sftp_client()
        source = sh_path(remote_dir)
        tmp = self._remote_tmp_path()
        q_tmp = shlex.quote(tmp)
        excludes = "".join(" --exclude=%s" % shlex.quote("./" + p.lstrip("/")) for p in patterns)
        if members is None:
            what = " ."
        else:
            what = " --ignore-failed-read --" + "".join(" " + shlex.quote("./" + _check_member(m)) for m in members)
        script = "\n".join(
            [
                "[ -d %s ] || exit %d" % (source, _EXIT_NO_DIR),
                "umask 077",
                "set -C; : > %s; set +C" % q_tmp,  # exclusive create
                # tar exits 1 when a file changed while it was read: the archive is still good.
                "cd %s && tar -czf %s --warning=no-file-changed%s%s; rc=$?" % (source, q_tmp, excludes, what),
                "[ $rc -le 1 ] || { rm -f %s; exit $rc; }" % q_tmp,
            ]
        )
        result = self.run_shell(script, check=False)
        if result.exit_code == _EXIT_NO_DIR:
            raise self._error("directory %s does not exist" % remote_dir)
        if result.exit_code != 0:
            raise self._error(
                "cannot archive %s: exit code %d%s" % (remote_dir, result.exit_code, _last_line(result.stderr))
            )
        try:
            with tempfile.TemporaryFile() as f:
                try:
                    sftp.getfo(tmp, f)
                except OSError as e:
                    raise self._error("cannot download archive: %s" % _strerror(e)) from None
                f.seek(0)
                os.makedirs(local_dir, exist_ok=True)
                try:
                    _extract_tar(f, local_dir, patterns)
                except (tarfile.TarError, EOFError, zlib.error) as e:
                    raise self._error("bad archive from %s: %s" % (remote_dir, _one_line(e))) from None
        finally:
            self._sftp_remove(tmp)


# ---------------------------------------------------------------------- tar


class _NoChownTarFile(tarfile.TarFile):
    """A TarFile that never changes file ownership (files belong to the local user)."""

    def chown(self, tarinfo: tarfile.TarInfo, targetpath: str, numeric_owner: bool) -> None:  # type: ignore[override]
        return None


def is_excluded(relpath: str, patterns: Sequence[str]) -> bool:
    """Whether ``relpath`` (posix, relative) or one of its parent dirs matches a pattern."""
    if not patterns:
        return False
    parts = relpath.split("/")
    for i in range(1, len(parts) + 1):
        prefix = "/".join(parts[:i])
        if any(fnmatch.fnmatchcase(prefix, p.lstrip("/")) for p in patterns):
            return True
    return False


def _check_member(path: str) -> str:
    """A relative, normalised archive member path; refuses absolute paths and ``..``."""
    p = path.replace(os.sep, "/").strip("/")
    while p.startswith("./"):
        p = p[2:]
    if not p or path.startswith("/") or ".." in p.split("/"):
        raise GuildError("invalid archive member path: %r" % path)
    return p


def _write_tar(
    fileobj: IO[bytes], root: str, patterns: Sequence[str], members: Optional[Sequence[str]] = None
) -> None:
    """Write a gzip'd tar of ``root``'s contents (paths relative, ``./``-free) to ``fileobj``.

    With ``members``, only those relative paths (files, or directories taken
    whole) are written.
    """
    with tarfile.open(fileobj=fileobj, mode="w:gz") as tar:
        if members is None:
            _add_tree(tar, root, root, patterns)
            return
        for member in members:
            full = os.path.join(root, *member.split("/"))
            if is_excluded(member, patterns):
                continue
            if os.path.isdir(full) and not os.path.islink(full):
                tar.add(full, arcname=member, recursive=False)
                _add_tree(tar, root, full, patterns)
            elif os.path.lexists(full):
                tar.add(full, arcname=member, recursive=False)


def _add_tree(tar: tarfile.TarFile, root: str, top: str, patterns: Sequence[str]) -> None:
    """Add everything below ``top`` (not ``top`` itself), named relative to ``root``."""
    for dirpath, dirnames, filenames in os.walk(top):
        rel_dir = os.path.relpath(dirpath, root).replace(os.sep, "/")
        rel_dir = "" if rel_dir == "." else rel_dir + "/"
        kept = []
        for d in sorted(dirnames):
            rel = rel_dir + d
            if is_excluded(rel, patterns):
                continue
            full = os.path.join(dirpath, d)
            tar.add(full, arcname=rel, recursive=False)
            if not os.path.islink(full):
                kept.append(d)
        dirnames[:] = kept
        for name in sorted(filenames):
            rel = rel_dir + name
            if not is_excluded(rel, patterns):
                tar.add(os.path.join(dirpath, name), arcname=rel, recursive=False)


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _extract_tar(fileobj: IO[bytes], dest: str, patterns: Sequence[str]) -> None:
    """Unpack a gzip'd tar into ``dest``, refusing members that escape it.

    Symlinks are restored as they are (like ``rsync -l``), but nothing is ever
    written through a symlink; device files are skipped.
    """
    dest_real = os.path.realpath(dest)
    extract_kw: dict[str, Any] = {"filter": "fully_trusted"} if hasattr(tarfile, "fully_trusted_filter") else {}
    dirs: list[tuple[tarfile.TarInfo, str]] = []
    with _NoChownTarFile.open(fileobj=fileobj, mode="r:gz") as tar:
        for m in tar:
            name = m.name
            while name.startswith("./"):
                name = name[2:]
            name = name.rstrip("/")
            if name in ("", "."):
                continue
            parts = name.split("/")
            if name.startswith("/") or ".." in parts:
                raise GuildError("refusing unsafe path in archive: %s" % m.name)
            if is_excluded(name, patterns):
                continue
            if m.ischr() or m.isblk() or m.isfifo():
                continue
            target = os.path.join(dest, *parts)
            parent_real = os.path.realpath(os.path.dirname(target))
            if not _inside(parent_real, dest_real):
                raise GuildError("refusing archive member outside %s: %s" % (dest, m.name))
            if m.islnk():
                link = m.linkname
                while link.startswith("./"):
                    link = link[2:]
                link_real = os.path.realpath(os.path.join(dest, link))
                if link.startswith("/") or not _inside(link_real, dest_real):
                    raise GuildError("refusing hard link outside %s: %s" % (dest, m.name))
                m.linkname = link
            if os.path.islink(target) or (os.path.isfile(target) and m.isdir()):
                os.unlink(target)
            elif os.path.isdir(target) and not m.isdir():
                shutil.rmtree(target)
            m.name = name
            if m.isdir():
                tar.extract(m, dest, set_attrs=False, **extract_kw)
                dirs.append((m, target))
            else:
                tar.extract(m, dest, **extract_kw)
        for m, target in reversed(dirs):
            tar.chmod(m, target)
            tar.utime(m, target)


# -------------------------------------------------------------------- helpers


def _local_user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001
        return "?"


def _strerror(e: BaseException) -> str:
    return getattr(e, "strerror", None) or _one_line(e) or type(e).__name__


def _one_line(e: object) -> str:
    return " ".join(str(e).split())


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
    return ": %s" % lines[-1] if lines else ""
