"""Remote runs, forwarding, pull and push: what the doc tests cannot express.

Everything talks to the real sshd of ``tests/sshd.py`` (remote ``guild-uat``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import click
import pytest

from luigi_guild.model.errors import GuildError

SAMPLES = Path(__file__).resolve().parent / "samples" / "projects"
ECHO = SAMPLES / "remote-echo"


@pytest.fixture
def guild_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "guild-home"
    monkeypatch.setenv("GUILD_HOME", str(home))
    return home


def guild(*args: str, cwd: Path = ECHO, check: bool = True, **kw) -> subprocess.CompletedProcess:
    p = subprocess.run(
        [sys.executable, "-m", "luigi_guild", *args], cwd=cwd, capture_output=True, text=True, **kw
    )
    if check:
        assert p.returncode == 0, p.stdout + p.stderr
    return p


# ------------------------------------------------------------ argument rebuild


def test_given_args_rebuilds_what_was_given() -> None:
    from luigi_guild.commands.remote_opt import given_args, remote_option

    seen: list[list[str]] = []

    @click.command()
    @click.argument("runs", nargs=-1)
    @click.option("-y", "--yes", is_flag=True)
    @click.option("-m", "--more", count=True)
    @click.option("-Ft", "--tag", "tags", multiple=True)
    @click.option("-S", "chars", multiple=True)
    @click.option("--timeout", type=float, default=30.0)
    @click.option("--color/--no-color", default=True)
    @remote_option
    def cmd(**kw) -> None:
        seen.append(given_args(click.get_current_context()))

    cmd.main(["1", "-r", "x", "-y", "-mm", "-Ft", "a b", "-Ft", "$c;d", "-S", "ec", "--no-color"], standalone_mode=False)
    assert seen[-1] == ["--yes", "--more", "--more", "--tag", "a b", "--tag", "$c;d", "-S", "ec", "--no-color", "1"]

    # Defaults are not repeated; a positional that looks like an option is kept one.
    cmd.main(["-r", "x", "--timeout", "2", "--", "-weird"], standalone_mode=False)
    assert seen[-1] == ["--timeout", "2.0", "--", "-weird"]


# ------------------------------------------------------------------ packages


def test_package_name_digest_and_files(tmp_path: Path) -> None:
    from luigi_guild.remote import package

    proj = tmp_path / "proj"
    (proj / ".git").mkdir(parents=True)
    (proj / ".git" / "HEAD").write_text("x")
    (proj / "guild.yml").write_text("op: {}\n")
    (proj / "op.py").write_text("print(1)\n")
    (proj / ".hidden").write_text("secret")
    pkg = package.build(str(proj))
    assert pkg.files == ("guild.yml", "op.py")
    assert pkg.name.startswith("gpkg.anonymous-") and len(pkg.name) == len("gpkg.anonymous-") + 8
    assert pkg.name == package.package_name(str(proj / "guild.yml"))
    assert pkg.remote_dir == "cache/packages/%s-%s" % (pkg.name, pkg.digest)

    assert package.build(str(proj)).digest == pkg.digest
    (proj / "op.py").write_text("print(2)\n")
    assert package.build(str(proj)).digest != pkg.digest
    # The name depends on where the project is, not on what it holds.
    assert package.build(str(proj)).name == pkg.name


# ---------------------------------------------------------------- no Fabric


@pytest.mark.parametrize(
    "args",
    [["runs"], ["runs", "list", "-a"], ["ls"], ["stop", "-y"], ["select", "-A"], ["watch"], ["pull", "--help"]],
)
def test_local_commands_do_not_import_fabric(args: list[str], guild_home: Path) -> None:
    p = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "luigi_guild", *args], capture_output=True, text=True
    )
    imported = {line.split("|")[-1].strip().split(".")[0] for line in p.stderr.splitlines() if "|" in line}
    assert "luigi_guild" in imported
    assert not imported & {"fabric", "paramiko", "invoke"}, args


# --------------------------------------------------------- runs over the wire


def test_interrupted_watch_detaches_and_the_run_goes_on(guild_uat_remote: dict, guild_home: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "luigi_guild", "run", "tick", "n=30", "delay=0.1", "-r", "guild-uat", "-y"],
        cwd=ECHO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        lines = []
        for line in proc.stdout:  # type: ignore[union-attr]
            lines.append(line)
            if line.startswith("tick 2"):
                break
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out = "".join(lines) + rest
    assert proc.returncode == 0, out
    run_id = out.split("Starting tick on guild-uat as ")[1].split()[0]
    assert "Detached from remote run %s (still running)" % run_id in out
    assert "To re-attach use 'guild watch %s -r guild-uat'" % run_id in out
    assert "stopped with a status" not in out

    # The run was not stopped with the connection: it finishes on its own.
    # (A remote watch sends everything to stdout, in the order it was written.)
    watched = guild("watch", run_id, "-r", "guild-uat").stdout.splitlines()
    assert watched[0] == "Watching run %s" % run_id
    assert watched[1:-1] == ["tick %d" % i for i in range(1, 31)]
    assert watched[-1] == "Run %s stopped with a status of 'completed'" % run_id


def test_failed_pull_leaves_no_half_made_run(guild_uat_remote: dict, guild_home: Path) -> None:
    from luigi_guild.remote import actions

    guild("run", "echo", "msg=x", "-r", "guild-uat", "-y")
    host = actions.connect("guild-uat")
    real_get = host.get_archive
    unpacked: list[str] = []

    def get_then_fail(remote_dir, local_dir, exclude=(), members=None):
        real_get(remote_dir, local_dir, exclude=exclude, members=members)
        unpacked.extend(os.listdir(local_dir))
        raise GuildError("remote guild-uat: connection lost: test")

    host.get_archive = get_then_fail  # type: ignore[method-assign]
    with host:
        runs = actions.list_runs(host)
        with pytest.raises(GuildError, match="connection lost"):
            actions.fetch_runs(host, runs)
    assert unpacked == [runs[0].id]  # the run had arrived, in the temporary directory
    assert os.listdir(guild_home / "runs") == []


def test_pull_refreshes_a_local_copy_and_keeps_local_files(guild_uat_remote: dict, guild_home: Path) -> None:
    guild("run", "echo", "msg=x", "-r", "guild-uat", "-y")
    guild("pull", "guild-uat", "-y")
    (run_dir,) = (guild_home / "runs").iterdir()
    guild_dir = run_dir / ".guild"
    (run_dir / "notes.txt").write_text("mine")
    (guild_dir / "output").write_text("stale")
    (guild_dir / "LOCK.remote").write_text("guild-uat")
    (guild_dir / "LOCK").write_text("999999")

    guild("pull", "guild-uat", "-y")
    assert (run_dir / "notes.txt").read_text() == "mine"
    assert (guild_dir / "output").read_text() == "[x]\n"
    assert not (guild_dir / "LOCK.remote").exists()
    assert not (guild_dir / "LOCK").exists()
    assert guild("runs").stdout.split()[-2:] == ["completed", "msg=x"]


def test_remote_ls_shows_run_dir_name_not_remote_path(guild_uat_remote: dict, guild_home: Path) -> None:
    guild("run", "echo", "-r", "guild-uat", "-y")
    run_id = guild("select", "-r", "guild-uat").stdout.strip()
    out = guild("ls", "-r", "guild-uat").stdout.splitlines()
    assert out[0] == "%s:" % run_id
    assert "  echo.py" in out


def test_remote_exit_code_is_forwarded(guild_uat_remote: dict, guild_home: Path) -> None:
    p = guild("runs", "info", "-r", "guild-uat", check=False)
    assert p.returncode == 1
    assert p.stderr == "guild: no matching runs\n"
    p = guild("runs", "-S", "x", "-r", "guild-uat", check=False)
    assert p.returncode != 0
    assert p.stderr.startswith("guild: unrecognized status char 'x'")


def test_remote_run_rejects_local_only_options(guild_home: Path) -> None:
    p = guild("run", "echo", "-r", "guild-uat", "--background", "-y", check=False)
    assert (p.returncode, p.stderr) == (1, "guild: --background cannot be used with --remote\n")
    p = guild("run", "echo", "--no-wait", "-y", check=False)
    assert (p.returncode, p.stderr) == (1, "guild: --no-wait can only be used with --remote\n")
    assert not (guild_home / "runs").exists()


def test_listed_run_ids_must_be_plain_names() -> None:
    """A remote listing a run id that is not a plain name cannot make pull write outside the runs dir."""
    from luigi_guild.remote import actions

    with pytest.raises(GuildError, match="remote guild-uat listed an invalid run ID '../../etc'"):
        actions._check_run_id("guild-uat", "../../etc")
    actions._check_run_id("guild-uat", "0123abcd")
