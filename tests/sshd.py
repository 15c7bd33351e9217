"""A real OpenSSH server on 127.0.0.1 for remote tests (pytest plugin module).

Load it from ``tests/conftest.py`` with ``from sshd import *  # noqa: F401,F403``
(pytest puts ``tests/`` on ``sys.path`` before importing that conftest), or,
without a conftest, with ``PYTHONPATH=tests pytest -p sshd``.

Fixtures:

``sshd_server`` (session)
    A running ``/usr/sbin/sshd`` on a free loopback port with a throwaway
    host key and client key (an :class:`SshdServer`). Skipped, not failed,
    when sshd is missing or we are not root.

``guild_uat_remote`` (function)
    Writes a user config defining remote ``guild-uat`` for that server (host
    key pre-recorded in its own known_hosts file, a fresh remote guild-home,
    venv = this interpreter's environment). Sets ``GUILD_CONFIG`` in
    ``os.environ`` for the duration and yields ``{"GUILD_CONFIG": path}`` for
    doc tests that build their own environment.

Plain helpers (no fixtures needed): :func:`start_sshd`, :func:`make_keypair`,
:func:`free_port`, :func:`write_guild_uat_config`.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional

import pytest

SSHD = "/usr/sbin/sshd"
LOOPBACK = "127.0.0.1"

__all__ = [
    "SshdServer",
    "free_port",
    "guild_uat_remote",
    "make_keypair",
    "sshd_server",
    "start_sshd",
    "write_guild_uat_config",
]


@dataclass
class SshdServer:
    """A running sshd: where it listens, its keys and its process."""

    port: int
    workdir: Path
    host_key: Path  # private host key
    host_key_pub: str  # "TYPE BASE64"
    client_key: Path  # private key authorised to log in as root
    proc: subprocess.Popen = field(repr=False)
    host: str = LOOPBACK
    user: str = "root"

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def log_path(self) -> Path:
        return self.workdir / "sshd.log"

    def known_hosts_line(self, port: Optional[int] = None) -> str:
        """A known_hosts line for this server's host key (optionally for another port)."""
        return "[%s]:%d %s\n" % (self.host, port or self.port, self.host_key_pub)

    def stop(self) -> None:
        """Stop sshd by its pid and wait for it."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _skip_unless_sshd() -> None:
    if not os.access(SSHD, os.X_OK):
        pytest.skip("%s not installed (apt-get install openssh-server)" % SSHD)
    if os.geteuid() != 0:
        pytest.skip("the sshd fixture needs root")


def free_port() -> int:
    """A loopback TCP port nothing listens on (at the time of asking)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def make_keypair(path: Path) -> str:
    """Create an unencrypted private key at ``path`` and return its public ``TYPE BASE64``."""
    path = Path(path)
    keygen = shutil.which("ssh-keygen")
    if keygen:
        subprocess.run(
            [keygen, "-q", "-t", "ed25519", "-N", "", "-C", "luigi-guild-test", "-f", str(path)],
            check=True,
            stdin=subprocess.DEVNULL,
        )
        return " ".join(Path(str(path) + ".pub").read_text().split()[:2])
    import paramiko

    key = paramiko.RSAKey.generate(2048)
    key.write_private_key_file(str(path))
    os.chmod(path, 0o600)
    pub = "%s %s" % (key.get_name(), key.get_base64())
    Path(str(path) + ".pub").write_text(pub + "\n")
    return pub


def start_sshd(
    workdir: Path,
    authorized_keys: list[str],
    host_key: Optional[Path] = None,
    client_key: Optional[Path] = None,
) -> SshdServer:
    """Start ``/usr/sbin/sshd -D`` on a free loopback port, configured in ``workdir``.

    Generates a host key unless ``host_key`` is given. Waits until the port
    accepts connections. Call :meth:`SshdServer.stop` when done.
    """
    _skip_unless_sshd()
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # privilege separation dir
    if host_key is None:
        host_key = workdir / "ssh_host_ed25519_key"
        host_key_pub = make_keypair(host_key)
    else:
        host_key_pub = " ".join(Path(str(host_key) + ".pub").read_text().split()[:2])
    (workdir / "authorized_keys").write_text("".join(k.strip() + "\n" for k in authorized_keys))
    last_log = ""
    for _attempt in range(5):
        port = free_port()
        config = workdir / "sshd_config"
        config.write_text(
            "\n".join(
                [
                    "Port %d" % port,
                    "ListenAddress %s" % LOOPBACK,
                    'HostKey "%s"' % host_key,
                    'PidFile "%s"' % (workdir / "sshd.pid"),
                    'AuthorizedKeysFile "%s"' % (workdir / "authorized_keys"),
                    "StrictModes no",
                    "UsePAM no",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "PubkeyAuthentication yes",
                    "PermitRootLogin prohibit-password",
                    "Subsystem sftp internal-sftp",
                    "UseDNS no",
                    "PrintMotd no",
                    "MaxStartups 100:30:200",
                    "MaxSessions 100",
                    "LogLevel VERBOSE",
                    "",
                ]
            )
        )
        log = open(workdir / "sshd.log", "ab")
        proc = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        server = SshdServer(
            port=port,
            workdir=workdir,
            host_key=host_key,
            host_key_pub=host_key_pub,
            client_key=Path(client_key) if client_key else workdir / "id_client",
            proc=proc,
        )
        if _wait_listening(proc, port, timeout=10.0):
            return server
        server.stop()
        last_log = (workdir / "sshd.log").read_text(errors="replace")
        if "Address already in use" not in last_log:
            break
    raise RuntimeError("sshd did not start:\n" + last_log)


def _wait_listening(proc: subprocess.Popen, port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection((LOOPBACK, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def write_guild_uat_config(
    server: SshdServer,
    directory: Path,
    name: str = "guild-uat",
    **overrides: object,
) -> Path:
    """Write ``directory/config.yml`` with remote ``name`` pointing at ``server``.

    The server's host key is pre-recorded in ``directory/known_hosts``; the
    remote guild-home is ``directory/remote-guild-home``. ``overrides`` are
    extra/replacement keys for the remote (``None`` removes a key).
    """
    import yaml

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    known_hosts = directory / "known_hosts"
    known_hosts.write_text(server.known_hosts_line())
    remote_home = directory / "remote-guild-home"
    remote_home.mkdir(exist_ok=True)
    section: dict = {
        "type": "ssh",
        "host": server.host,
        "port": server.port,
        "user": server.user,
        "private-key": str(server.client_key),
        "connect-timeout": 10,
        "known-hosts": str(known_hosts),
        "guild-home": str(remote_home),
        "description": "Local sshd for tests",
    }
    if os.path.isfile(os.path.join(sys.prefix, "bin", "activate")):
        section["venv-path"] = sys.prefix
    else:  # not a venv: put this interpreter's bin dir first on PATH
        section["venv-activate"] = 'export PATH=%s:"$PATH"' % os.path.dirname(sys.executable)
    for key, val in overrides.items():
        key = key.replace("_", "-")
        if val is None:
            section.pop(key, None)
        else:
            section[key] = val
    path = directory / "config.yml"
    path.write_text(yaml.safe_dump({"remotes": {name: section}}, sort_keys=False))
    return path


@pytest.fixture(scope="session")
def sshd_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshdServer]:
    """A real sshd on 127.0.0.1 for the whole session (skips without sshd/root)."""
    _skip_unless_sshd()
    workdir = Path(tempfile.mkdtemp(prefix="sshd-", dir=tmp_path_factory.getbasetemp()))
    client_key = workdir / "id_client"
    client_pub = make_keypair(client_key)
    server = start_sshd(workdir, [client_pub], client_key=client_key)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def guild_uat_remote(sshd_server: SshdServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """Config for remote ``guild-uat``; yields ``{"GUILD_CONFIG": path}`` and sets it in os.environ."""
    directory = tmp_path_factory.mktemp("guild-uat")
    path = write_guild_uat_config(sshd_server, directory)
    env = {"GUILD_CONFIG": str(path)}
    with pytest.MonkeyPatch.context() as mp:  # restores the environment afterwards
        for k, v in env.items():
            mp.setenv(k, v)
        yield env
