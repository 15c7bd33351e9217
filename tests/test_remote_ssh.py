"""RemoteHost against a real sshd on 127.0.0.1 (fixtures from tests/sshd.py)."""

from __future__ import annotations

import json
import os
import shlex
import socket
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from luigi_guild.model.errors import GuildError
from luigi_guild.remote.config import RemoteConfig, remote_config
from luigi_guild.remote.ssh import RemoteHost, is_excluded, sh_path
from sshd import SshdServer, free_port, make_keypair, start_sshd

AWKWARD = [
    "two words",
    "it's",
    'say "hi"',
    "$HOME",
    "${{PATH}}",
    "a;touch {marker}",
    "`touch {marker}`",
    "$(touch {marker})",
    "|&<>*?[]!#~{{}}",
    "back\\slash",
    "line1\nline2",
    "",
    "-h",
    "--",
]


def make_config(server: SshdServer, tmp_path: Path, **kw: object) -> RemoteConfig:
    """A RemoteConfig for ``server`` with a pre-recorded host key."""
    known_hosts = tmp_path / "known_hosts"
    if not known_hosts.exists():
        known_hosts.write_text(server.known_hosts_line())
    base: dict = dict(
        name="test-remote",
        type="ssh",
        host=server.host,
        port=server.port,
        user=server.user,
        private_key=str(server.client_key),
        connect_timeout=10.0,
        known_hosts=str(known_hosts),
        guild_home=str(tmp_path / "remote-home"),
    )
    base.update(kw)
    return RemoteConfig(**base)


def fake_guild(tmp_path: Path) -> str:
    """A venv-activate line putting a ``guild`` that dumps its argv and env first on PATH."""
    bindir = tmp_path / "fakebin"
    bindir.mkdir()
    script = bindir / "guild"
    script.write_text(
        "#!%s\nimport json, os, sys\n"
        "print(json.dumps({'argv': sys.argv[1:], 'env': {k: os.environ.get(k) for k in "
        "('GUILD_HOME', 'ODD', 'COLUMNS')}}))\n"
        "sys.exit(int(os.environ.get('FAKE_EXIT', '0')))\n" % sys.executable
    )
    script.chmod(0o755)
    return "export PATH=%s:\"$PATH\"" % shlex.quote(str(bindir))


def one_line(e: pytest.ExceptionInfo) -> str:
    msg = e.value.message
    assert "\n" not in msg, msg
    assert msg.startswith("remote test-remote: "), msg
    return msg


# ------------------------------------------------------------ no server needed


@pytest.mark.parametrize(
    "path, word",
    [
        ("/abs/p q", "'/abs/p q'"),
        ("~", '"$HOME"'),
        ("~/", '"$HOME"'),
        ("~/env/.guild", '"$HOME"/env/.guild'),
        (".guild", '"$HOME"/.guild'),
        ("rel dir/x", '"$HOME"/\'rel dir/x\''),
        ("~bob/x", "~bob/x"),
        ("~$(id)/x", '"$HOME"/\'~$(id)/x\''),
    ],
)
def test_sh_path(path: str, word: str) -> None:
    assert sh_path(path) == word


def test_is_excluded() -> None:
    pats = [".guild/LOCK*", ".guild/job-packages"]
    assert is_excluded(".guild/LOCK", pats)
    assert is_excluded(".guild/LOCK.remote", pats)
    assert is_excluded(".guild/job-packages/x.whl", pats)
    assert not is_excluded(".guild/attrs/exit_status", pats)
    assert not is_excluded("LOCK", pats)
    assert not is_excluded("x", [])


# ------------------------------------------------------------------- commands


def test_guild_args_and_env_arrive_intact(sshd_server: SshdServer, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    args = [a.format(marker=marker) for a in AWKWARD]
    cfg = make_config(sshd_server, tmp_path, venv_activate=fake_guild(tmp_path), guild_home="~/gh dir")
    odd = "v'a\"l $HOME `id` ;x"
    with RemoteHost(cfg) as host:
        res = host.run(args, env={"ODD": odd})
    assert res.exit_code == 0, res.stderr
    got = json.loads(res.stdout)
    assert got["argv"] == args
    assert got["env"]["ODD"] == odd
    assert got["env"]["GUILD_HOME"] == os.path.expanduser("~root/gh dir")
    assert got["env"]["COLUMNS"].isdigit()
    assert not marker.exists()


def test_run_returns_nonzero_exit_or_raises_with_check(sshd_server: SshdServer, tmp_path: Path) -> None:
    cfg = make_config(sshd_server, tmp_path, venv_activate=fake_guild(tmp_path))
    with RemoteHost(cfg) as host:
        res = host.run(["runs"], env={"FAKE_EXIT": "3"})
        assert res.exit_code == 3
        with pytest.raises(GuildError) as e:
            host.run(["runs"], env={"FAKE_EXIT": "2"}, check=True)
    assert one_line(e) == "remote test-remote: 'guild runs' failed with exit code 2"
    assert e.value.exit_code == 2


def test_bad_env_name_rejected(sshd_server: SshdServer, tmp_path: Path) -> None:
    host = RemoteHost(make_config(sshd_server, tmp_path))
    with pytest.raises(ValueError):
        host.guild_script(["runs"], env={"A;rm": "x"})


def test_real_guild_in_venv(sshd_server: SshdServer, tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    cfg = make_config(sshd_server, tmp_path, venv_path=sys.prefix)
    with RemoteHost(cfg) as host:
        res = host.run(["--version"], stream=True)
    assert res.exit_code == 0
    assert res.stdout.startswith("luigi-guild, version ")
    assert capfd.readouterr().out == res.stdout


def test_guild_uat_remote_fixture(guild_uat_remote: dict) -> None:
    assert os.environ["GUILD_CONFIG"] == guild_uat_remote["GUILD_CONFIG"]
    cfg = remote_config("guild-uat")
    assert cfg.host == "127.0.0.1" and cfg.user == "root"
    with RemoteHost(cfg) as host:
        assert host.run(["--version"]).exit_code == 0
        assert host.exists(cfg.guild_home)
    p = subprocess.run(
        [sys.executable, "-m", "luigi_guild", "remotes"], capture_output=True, text=True, env=dict(os.environ)
    )
    assert p.stdout == "guild-uat  ssh  127.0.0.1  Local sshd for tests\n"


def _imports(args: list[str], cwd: Path, env: dict, stdin: str = "") -> tuple[subprocess.CompletedProcess, set]:
    """Run ``guild ARGS`` with ``-X importtime``: the process and the top-level packages it imported."""
    p = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "luigi_guild", *args],
        cwd=cwd, env=env, input=stdin, capture_output=True, text=True,
    )
    return p, {ln.split("|")[-1].strip().split(".")[0] for ln in p.stderr.splitlines() if ln.startswith("import time:")}


def test_fabric_only_for_commands_that_read_stdin(guild_uat_remote: dict, tmp_path: Path) -> None:
    project = Path(__file__).parent / "samples" / "projects" / "remote-status"
    env = dict(os.environ, GUILD_HOME=str(tmp_path / "home"))
    p, _ = _imports(["run", "sleep", "seconds=0", "-r", "guild-uat", "-y"], project, env)
    assert p.returncode == 0, p.stderr
    for args in (["runs", "-r", "guild-uat"], ["pull", "guild-uat", "-y"], ["stop", "-r", "guild-uat", "-y"]):
        p, imported = _imports(args, project, env)
        assert p.returncode == 0, (args, p.stderr)
        assert "paramiko" in imported
        assert "fabric" not in imported, args
    p, _ = _imports(["runs", "-r", "guild-uat"], project, env)
    assert "sleep" in p.stdout and "completed" in p.stdout
    # A command that may prompt gets the local stdin (through Fabric): the answer arrives.
    p, imported = _imports(["runs", "rm", "-r", "guild-uat"], project, env, stdin="y\n")
    assert p.returncode == 0, p.stderr
    assert "fabric" in imported
    assert "Deleted 1 run(s)" in p.stderr
    p, _ = _imports(["runs", "-r", "guild-uat"], project, env)
    assert (p.returncode, p.stdout.strip()) == (0, "")


def test_missing_guild(sshd_server: SshdServer, tmp_path: Path) -> None:
    cfg = make_config(sshd_server, tmp_path, venv_path=str(tmp_path / "no-venv"))
    with RemoteHost(cfg) as host, pytest.raises(GuildError) as e:
        host.run(["runs"])
    assert one_line(e) == "remote test-remote: guild command not found (check venv-path %s)" % (tmp_path / "no-venv")

    empty = tmp_path / "empty-bin"
    empty.mkdir()
    cfg = make_config(sshd_server, tmp_path, venv_activate="export PATH=%s" % shlex.quote(str(empty)))
    with RemoteHost(cfg) as host, pytest.raises(GuildError) as e:
        host.run(["runs"])
    assert one_line(e) == "remote test-remote: guild command not found (check venv-activate)"


def test_run_shell_check_and_timeout(sshd_server: SshdServer, tmp_path: Path) -> None:
    with RemoteHost(make_config(sshd_server, tmp_path)) as host:
        assert host.run_shell("echo out; echo err >&2; exit 4", check=False) == type(
            host.run_shell("true")
        )(4, "out\n", "err\n")
        with pytest.raises(GuildError) as e:
            host.run_shell("echo boom >&2; exit 5")
        assert one_line(e) == "remote test-remote: remote command failed with exit code 5: boom"
        with pytest.raises(GuildError) as e:
            host.run_shell("sleep 5", timeout=0.5)
        assert one_line(e) == "remote test-remote: command timed out after 0.5 seconds"


# ---------------------------------------------------------------------- files


def build_tree(root: Path) -> None:
    (root / ".guild" / "attrs").mkdir(parents=True)
    (root / ".guild" / "attrs" / "exit_status").write_text("0")
    (root / ".guild" / "LOCK").write_text("123")
    (root / ".guild" / "LOCK.remote").write_text("guild-uat")
    (root / ".guild" / "job-packages").mkdir()
    (root / ".guild" / "job-packages" / "pkg.whl").write_bytes(b"\0" * 100)
    (root / "sub dir").mkdir()
    (root / "sub dir" / "it's \"odd\" $x.txt").write_text("odd\n")
    (root / "empty").mkdir()
    (root / "bin.dat").write_bytes(bytes(range(256)) * 10)
    (root / "run.sh").write_text("#!/bin/sh\n")
    (root / "run.sh").chmod(0o755)
    os.symlink("bin.dat", root / "link")
    os.symlink("/etc/hostname", root / "abs-link")


def snapshot(root: Path) -> dict:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = str(p.relative_to(root))
            if p.is_symlink():
                out[rel] = ("link", os.readlink(p))
            elif p.is_dir():
                out[rel] = ("dir",)
            else:
                out[rel] = ("file", p.read_bytes(), stat.S_IMODE(p.stat().st_mode) & 0o100)
    return out


def test_archive_round_trip_with_excludes(sshd_server: SshdServer, tmp_path: Path) -> None:
    src = tmp_path / "src"
    build_tree(src)
    remote_dir = tmp_path / "remote side" / "run 1"
    back = tmp_path / "back"
    with RemoteHost(make_config(sshd_server, tmp_path)) as host:
        host.put_archive(str(src), str(remote_dir), exclude=[".guild/LOCK*"])
        assert host.exists(str(remote_dir / ".guild" / "attrs" / "exit_status"))
        assert not host.exists(str(remote_dir / ".guild" / "LOCK"))
        assert not host.exists(str(remote_dir / ".guild" / "LOCK.remote"))
        assert host.read_text(str(remote_dir / "sub dir" / "it's \"odd\" $x.txt")) == "odd\n"
        # The remote side gets a LOCK of its own, which a pull must not bring back.
        host.run_shell("echo 999 > %s" % shlex.quote(str(remote_dir / ".guild" / "LOCK")))
        host.get_archive(str(remote_dir), str(back), exclude=[".guild/LOCK*", ".guild/job-packages"])
    expected = snapshot(src)
    for rel in [".guild/LOCK", ".guild/LOCK.remote", ".guild/job-packages", ".guild/job-packages/pkg.whl"]:
        del expected[rel]
    assert snapshot(back) == expected


def test_get_archive_missing_dir(sshd_server: SshdServer, tmp_path: Path) -> None:
    with RemoteHost(make_config(sshd_server, tmp_path)) as host, pytest.raises(GuildError) as e:
        host.get_archive(str(tmp_path / "nope"), str(tmp_path / "dest"))
    assert one_line(e) == "remote test-remote: directory %s does not exist" % (tmp_path / "nope")


def test_exists_and_read_text(sshd_server: SshdServer, tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_text("héllo\n")
    with RemoteHost(make_config(sshd_server, tmp_path)) as host:
        assert host.exists("~")
        assert host.exists(str(tmp_path / "f.txt"))
        assert not host.exists(str(tmp_path / "missing"))
        assert host.read_text(str(tmp_path / "f.txt")) == "héllo\n"
        with pytest.raises(GuildError) as e:
            host.read_text(str(tmp_path / "missing"))
    assert one_line(e) == "remote test-remote: %s does not exist" % (tmp_path / "missing")


# -------------------------------------------------------------- host keys


def test_trust_on_first_use_then_changed_key_refused(sshd_server: SshdServer, tmp_path: Path) -> None:
    known_hosts = tmp_path / "ssh" / "known_hosts"  # directory does not exist yet
    cfg = make_config(sshd_server, tmp_path, known_hosts=str(known_hosts))
    with RemoteHost(cfg) as host:
        assert host.run_shell("true").exit_code == 0
    recorded = known_hosts.read_text()
    assert recorded.split() == sshd_server.known_hosts_line().split()
    with RemoteHost(cfg) as host:  # known now: no new entry
        host.run_shell("true")
    assert known_hosts.read_text() == recorded

    # A second server with another host key, recorded (wrongly) with the first key.
    other_dir = tmp_path / "other-sshd"
    other = start_sshd(other_dir, [Path(str(sshd_server.client_key) + ".pub").read_text()])
    try:
        assert other.host_key_pub != sshd_server.host_key_pub
        known_hosts.write_text(recorded + sshd_server.known_hosts_line(port=other.port))
        before = known_hosts.read_text()
        cfg2 = make_config(sshd_server, tmp_path, known_hosts=str(known_hosts), port=other.port)
        with pytest.raises(GuildError) as e:
            RemoteHost(cfg2).connect()
        msg = one_line(e)
        assert "host key for 127.0.0.1:%d does not match the key recorded in %s" % (other.port, known_hosts) in msg
        assert known_hosts.read_text() == before

        # host-key-check: no accepts it and records nothing.
        cfg3 = make_config(sshd_server, tmp_path, known_hosts=str(known_hosts), port=other.port, host_key_check=False)
        with RemoteHost(cfg3) as host:
            assert host.run_shell("echo ok").stdout == "ok\n"
        assert known_hosts.read_text() == before
    finally:
        other.stop()


# ----------------------------------------------------------- connect errors


def test_connection_refused(sshd_server: SshdServer, tmp_path: Path) -> None:
    port = free_port()
    with pytest.raises(GuildError) as e:
        RemoteHost(make_config(sshd_server, tmp_path, port=port)).connect()
    assert one_line(e) == "remote test-remote: connection refused by 127.0.0.1:%d" % port


def test_authentication_failed(sshd_server: SshdServer, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong_key"
    make_keypair(wrong)
    with pytest.raises(GuildError) as e:
        RemoteHost(make_config(sshd_server, tmp_path, private_key=str(wrong))).run_shell("true")
    assert one_line(e) == (
        "remote test-remote: authentication failed for root@127.0.0.1:%d (check 'user' and 'private-key')"
        % sshd_server.port
    )


def test_missing_private_key(sshd_server: SshdServer, tmp_path: Path) -> None:
    with pytest.raises(GuildError) as e:
        RemoteHost(make_config(sshd_server, tmp_path, private_key=str(tmp_path / "nokey"))).connect()
    assert one_line(e) == "remote test-remote: private key %s does not exist" % (tmp_path / "nokey")


def test_connect_timeout(sshd_server: SshdServer, tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    """A listener that never speaks SSH: the greeting wait times out, quietly."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        with pytest.raises(GuildError) as e:
            RemoteHost(make_config(sshd_server, tmp_path, port=port, connect_timeout=1.0)).connect()
    assert one_line(e) == (
        "remote test-remote: timed out waiting for the SSH greeting from 127.0.0.1:%d after 1 seconds" % port
    )
    assert capfd.readouterr().err == ""


def test_not_an_ssh_server(sshd_server: SshdServer, tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]

        def answer() -> None:
            conn, _ = s.accept()
            conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")
            conn.close()

        t = threading.Thread(target=answer, daemon=True)
        t.start()
        with pytest.raises(GuildError) as e:
            RemoteHost(make_config(sshd_server, tmp_path, port=port, connect_timeout=5.0)).connect()
        t.join()
    assert one_line(e) == (
        "remote test-remote: 127.0.0.1:%d closed the connection before the SSH greeting (not an SSH server?)" % port
    )


def test_sshd_fixture_skips_without_root_or_sshd(monkeypatch: pytest.MonkeyPatch) -> None:
    import sshd

    monkeypatch.setattr(sshd.os, "geteuid", lambda: 1000)
    with pytest.raises(pytest.skip.Exception, match="needs root"):
        sshd._skip_unless_sshd()
    monkeypatch.setattr(sshd, "SSHD", "/nonexistent/sshd")
    with pytest.raises(pytest.skip.Exception, match="not installed"):
        sshd._skip_unless_sshd()
