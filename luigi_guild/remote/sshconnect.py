"""Opening an SSH connection to a remote: Paramiko settings, private keys, host keys, connect errors.

Host keys: with ``host-key-check: yes`` (the default) the server key is looked
up in the remote's ``known-hosts`` file (default ``~/.ssh/known_hosts``, the
file OpenSSH uses). An unknown host is trusted on first use and its key is
appended to that file; a key that differs from the recorded one is refused.
``host-key-check: no`` accepts any key and records nothing.

The connection is a plain Paramiko client; :func:`fabric_connection` wraps
an open one in a Fabric connection, for the commands that forward the local
stdin (Fabric is imported only then: it costs a few tenths of a second).

Every failure is a single-line :class:`GuildError` naming the remote.
Imports Paramiko: import it only to connect.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import sys
from typing import Any, Optional


def _import_paramiko_without_invoke() -> None:
    """Import Paramiko with Invoke hidden, unless Invoke is already loaded.

    Paramiko imports Invoke only to run ``Match exec`` lines of an SSH config
    (we read none) and that import is a third of Paramiko's: a few tenths of a
    second on a loaded machine, paid by every ``-r`` call. Invoke stays
    importable afterwards (Fabric needs it).
    """
    if "paramiko" in sys.modules or "invoke" in sys.modules:
        return
    sys.modules["invoke"] = None  # type: ignore[assignment]  # makes "import invoke" fail
    try:
        import paramiko  # type: ignore[import-untyped]  # noqa: F401
    finally:
        if sys.modules.get("invoke", 0) is None:
            del sys.modules["invoke"]


_import_paramiko_without_invoke()

import paramiko  # type: ignore[import-untyped]  # noqa: E402
from paramiko.ssh_exception import NoValidConnectionsError  # type: ignore[import-untyped]

from luigi_guild.model.errors import GuildError
from luigi_guild.remote.config import RemoteConfig, default_known_hosts
from luigi_guild.remote.host import one_line, strerror

# Paramiko logs transport-thread failures (with tracebacks) at ERROR level; we
# report each failure as one GuildError line instead.
_paramiko_log = logging.getLogger("paramiko")
_paramiko_log.addHandler(logging.NullHandler())
_paramiko_log.propagate = False


def remote_error(config: RemoteConfig, message: str, exit_code: int = 1) -> GuildError:
    """``remote NAME: MESSAGE`` as a GuildError."""
    return GuildError("remote %s: %s" % (config.name, message), exit_code=exit_code)


def known_hosts_path(config: RemoteConfig) -> str:
    """The known-hosts file this remote checks and records host keys in."""
    return config.known_hosts or default_known_hosts()


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


_detaching_remote: Optional[type] = None


def _detaching_runner() -> type:
    """Fabric's remote runner, but Ctrl-C closes the channel so we stop at once.

    Without a pty Fabric re-raises the KeyboardInterrupt, and Invoke then
    waits for the output threads, that is for the remote command to end on its
    own. Closing the channel first ends them now; the remote command loses its
    output and stops (a detached run it was watching goes on).
    """
    global _detaching_remote
    if _detaching_remote is None:
        import fabric  # type: ignore[import-untyped]

        class _DetachingRemote(fabric.runners.Remote):  # type: ignore[misc]
            def send_interrupt(self, interrupt: KeyboardInterrupt) -> None:
                if not self.using_pty:
                    try:
                        self.channel.close()
                    except Exception:  # noqa: BLE001 - best effort on the way out
                        pass
                super().send_interrupt(interrupt)

        _detaching_remote = _DetachingRemote
    return _detaching_remote


def open_connection(config: RemoteConfig) -> paramiko.SSHClient:
    """An open SSH client connected to ``config``'s host, or a one-line GuildError."""
    c = config
    if c.private_key and not os.path.isfile(c.private_key):
        raise remote_error(c, "private key %s does not exist" % c.private_key)
    kwargs: dict[str, Any] = {
        "hostname": c.host,
        "port": c.port or 22,
        "username": c.user,
        "banner_timeout": c.connect_timeout,
        "auth_timeout": c.connect_timeout,
        # Paramiko's overall handshake wait must outlast its banner wait, or a
        # silent server yields a confusing "No existing session" instead.
        "timeout": int(c.connect_timeout + 2.5),
    }
    if c.private_key:
        kwargs.update(_key_kwargs(c, c.private_key), look_for_keys=False, allow_agent=False)
    # Hermetic: no ~/.ssh/config is read.
    client = paramiko.SSHClient()
    _setup_host_keys(c, client)
    try:
        if c.proxy:
            kwargs["sock"] = _proxy_command(c.host, c.proxy)
        client.connect(**kwargs)
    except Exception as e:  # noqa: BLE001 - mapped to one line below
        client.close()
        raise _connect_error(c, e) from None
    return client


def _proxy_command(host: str, command: str) -> paramiko.ProxyCommand:
    """A ProxyCommand socket for ``command`` (``%h``, ``%p``, ... expanded as OpenSSH does)."""
    import io

    conf = paramiko.SSHConfig()
    conf.parse(io.StringIO("Host %s\n    ProxyCommand %s\n" % (host, command)))
    return paramiko.ProxyCommand(conf.lookup(host)["proxycommand"])


def fabric_connection(config: RemoteConfig, client: paramiko.SSHClient) -> Any:
    """A Fabric connection that runs its commands over ``client`` (already open; closed by its owner)."""
    import fabric

    c = config
    fab_config = fabric.Config(
        lazy=True, ssh_config=paramiko.SSHConfig(), overrides={"runners": {"remote": _detaching_runner()}}
    )
    conn = fabric.Connection(c.host, user=c.user, port=c.port, config=fab_config)
    # Fabric opens a connection only when it has none: it uses this one.
    conn.client = client
    conn.transport = client.get_transport()
    return conn


def _key_kwargs(config: RemoteConfig, path: str) -> dict[str, Any]:
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
        raise remote_error(config, "private key %s is passphrase-protected, which is not supported" % path) from None
    except (paramiko.SSHException, ValueError, OSError) as e:
        raise remote_error(config, "cannot read private key %s: %s" % (path, strerror(e))) from None


def _setup_host_keys(config: RemoteConfig, client: paramiko.SSHClient) -> None:
    if not config.host_key_check:
        client.set_missing_host_key_policy(_AcceptPolicy())
        return
    path = known_hosts_path(config)
    if os.path.exists(path):
        try:
            client.get_host_keys().load(path)
        except Exception as e:  # noqa: BLE001 - paramiko raises plain Exception subclasses
            raise remote_error(config, "cannot read known hosts file %s: %s" % (path, one_line(e)))
    client.set_missing_host_key_policy(_RecordingPolicy(path))


def _connect_error(config: RemoteConfig, e: BaseException) -> GuildError:
    c = config
    where = "%s:%s" % (c.host, c.port or 22)
    if isinstance(e, paramiko.BadHostKeyException):
        fp = getattr(e.key, "fingerprint", None) or e.key.get_name()
        return remote_error(
            c,
            "host key for %s does not match the key recorded in %s (got %s; possible "
            "man-in-the-middle attack): refusing to connect; if the host key really changed, "
            "remove the old entry from that file" % (where, known_hosts_path(c), fp),
        )
    if isinstance(e, paramiko.PasswordRequiredException):
        return remote_error(c, "private key %s is passphrase-protected, which is not supported" % c.private_key)
    if isinstance(e, paramiko.AuthenticationException):
        user = c.user or _local_user()
        return remote_error(
            c, "authentication failed for %s@%s (check 'user' and 'private-key')" % (user, where)
        )
    if isinstance(e, NoValidConnectionsError):
        errnos = {getattr(err, "errno", None) for err in e.errors.values()}
        if errnos == {errno.ECONNREFUSED}:
            return remote_error(c, "connection refused by %s" % where)
        first = next(iter(e.errors.values()), e)
        return remote_error(c, "cannot connect to %s: %s" % (where, strerror(first)))
    if isinstance(e, socket.gaierror):
        return remote_error(c, "cannot resolve host '%s': %s" % (c.host, strerror(e)))
    if isinstance(e, (socket.timeout, TimeoutError)):
        return remote_error(c, "timed out connecting to %s" % where)
    if isinstance(e, paramiko.SSHException):
        if "banner" in str(e).lower():
            cause = e.__cause__ or e.__context__
            if isinstance(cause, (socket.timeout, TimeoutError)):
                return remote_error(
                    c, "timed out waiting for the SSH greeting from %s after %g seconds" % (where, c.connect_timeout)
                )
            return remote_error(c, "%s closed the connection before the SSH greeting (not an SSH server?)" % where)
        return remote_error(c, "SSH error talking to %s: %s" % (where, one_line(e)))
    if isinstance(e, OSError):
        return remote_error(c, "cannot connect to %s: %s" % (where, strerror(e)))
    if isinstance(e, EOFError):
        return remote_error(c, "connection closed by %s" % where)
    return remote_error(c, "cannot connect to %s: %s" % (where, one_line(e) or type(e).__name__))


def _local_user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001
        return "?"
