"""The ``local`` remote kind: a second Guild home on this host, driven through the real ``guild`` CLI.

No sshd needed: every test runs ``python -m luigi_guild`` subprocesses with
one temporary Guild home here and another as the remote ``other``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Optional

import pytest

SAMPLES = Path(__file__).resolve().parent / "samples" / "projects"
ECHO = SAMPLES / "remote-echo"
RUN_ID_LEN = 32


@pytest.fixture
def homes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """(here, there): this process's Guild home and the local remote ``other``'s, with a config for it."""
    here = tmp_path / "here"
    there = tmp_path / "there"
    there.mkdir()
    config = tmp_path / "config.yml"
    config.write_text(
        textwrap.dedent(
            """\
            remotes:
              other:
                type: local
                guild-home: there
                description: Second home on this host
            """
        )
    )
    monkeypatch.setenv("GUILD_HOME", str(here))
    monkeypatch.setenv("GUILD_CONFIG", str(config))
    monkeypatch.setenv("COLUMNS", "200")
    return here, there


def guild(*args: str, cwd: Path = ECHO, check: bool = True, input: Optional[str] = None) -> subprocess.CompletedProcess:
    p = subprocess.run(
        [sys.executable, "-m", "luigi_guild", *args], cwd=cwd, capture_output=True, text=True, input=input, timeout=120
    )
    if check:
        assert p.returncode == 0, p.stdout + p.stderr
    return p


def run_ids(home: Path) -> list[str]:
    try:
        return sorted(os.listdir(home / "runs"))
    except FileNotFoundError:
        return []


def listing(p: subprocess.CompletedProcess) -> list[list[str]]:
    """``guild runs`` rows as [op, status, flags...] (index and date left out)."""
    rows = []
    for line in p.stdout.splitlines():
        parts = line.split()
        rows.append([parts[1]] + parts[4:])
    return rows


def wait_for(predicate, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


# ---------------------------------------------------------------- listing


def test_guild_remotes_lists_the_local_remote(homes: tuple[Path, Path]) -> None:
    p = guild("remotes")
    assert p.stdout == "other  local  there  Second home on this host\n"


# -------------------------------------------------------------------- run


def test_run_copies_the_project_runs_there_and_shows_output(homes: tuple[Path, Path]) -> None:
    here, there = homes
    p = guild("run", "echo", "msg=it's $HOME; `id`", "-r", "other", "-y")
    err = p.stderr.splitlines()
    assert err[:2] == ["Building package", "Copying package to other"]
    assert err[2].startswith("Starting echo on other as ")
    run_id = err[2].split()[-1]
    assert len(run_id) == RUN_ID_LEN
    assert p.stdout.splitlines() == ["[it's $HOME; `id`]", "Run %s stopped with a status of 'completed'" % run_id]

    # The run lives in the other home, made from the shipped package; nothing here.
    assert run_ids(there) == [run_id]
    assert run_ids(here) == []
    assert (there / "runs" / run_id / "echo.py").is_file()
    packages = os.listdir(there / "cache" / "packages")
    assert len(packages) == 1 and packages[0].startswith("gpkg.anonymous-")

    rows = listing(guild("runs", "-r", "other"))
    assert len(rows) == 1
    assert rows[0][0].startswith("gpkg.anonymous-") and rows[0][0].endswith("/echo")
    assert rows[0][1] == "completed"
    assert guild("runs").stdout == ""

    # Other commands run against the other home.
    assert guild("cat", "-O", "-r", "other").stdout == "[it's $HOME; `id`]\n"
    assert guild("select", "-r", "other").stdout.strip() == run_id
    assert "  echo.py" in guild("ls", "-r", "other").stdout.splitlines()
    assert "status: completed" in guild("runs", "info", "-r", "other").stdout.splitlines()


def test_failed_run_and_remote_errors_pass_through(homes: tuple[Path, Path]) -> None:
    p = guild("run", "fail", "code=7", "-r", "other", "-y")
    assert p.stdout.splitlines()[-1].endswith("stopped with a status of 'error'")
    assert guild("cat", "-p", ".guild/attrs/exit_status", "-r", "other").stdout == "7\n"
    p = guild("runs", "info", "zzzz", "-r", "other", check=False)
    assert p.returncode == 1
    assert p.stderr.startswith("guild: could not find a run matching 'zzzz'\n")


def test_no_wait_then_watch(homes: tuple[Path, Path]) -> None:
    _, there = homes
    p = guild("run", "tick", "n=10", "delay=0.3", "-r", "other", "-y", "--no-wait")
    run_id = p.stderr.splitlines()[-1].split()[-1]
    assert p.stdout.splitlines() == [
        "%s is running on other" % run_id,
        "To watch use 'guild watch %s -r other'" % run_id,
    ]
    # --no-wait returns once the run's lock exists: it is running there now.
    assert (there / "runs" / run_id / ".guild" / "LOCK").exists()
    assert listing(guild("runs", "-r", "other"))[0][1] == "running"

    watched = guild("watch", run_id, "-r", "other").stdout.splitlines()
    assert watched[0] == "Watching run %s" % run_id
    assert watched[1:-1] == ["tick %d" % i for i in range(1, 11)]
    assert watched[-1] == "Run %s stopped with a status of 'completed'" % run_id


def test_stop_a_running_remote_run(homes: tuple[Path, Path]) -> None:
    guild("run", "tick", "n=1000", "delay=0.1", "-r", "other", "-y", "--no-wait")
    p = guild("stop", "-r", "other", "-y")
    assert p.stderr.startswith("Stopping ")
    rows = listing(guild("runs", "-r", "other"))
    assert rows[0][1] == "terminated"
    assert guild("cat", "-p", ".guild/attrs/exit_status", "-r", "other").stdout == "-15\n"


def test_stop_asks_here_for_the_other_home(homes: tuple[Path, Path]) -> None:
    guild("run", "tick", "n=1000", "delay=0.1", "-r", "other", "-y", "--no-wait")
    p = guild("stop", "-r", "other", input="n\n", check=False)
    assert p.returncode == 4
    assert "Stop 1 run(s)? (y/N)" in p.stdout + p.stderr
    assert listing(guild("runs", "-r", "other"))[0][1] == "running"
    p = guild("stop", "-r", "other", input="y\n")
    assert "Stopping " in p.stdout + p.stderr
    assert listing(guild("runs", "-r", "other"))[0][1] == "terminated"


def test_ctrl_c_detaches_and_the_run_goes_on(homes: tuple[Path, Path]) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "luigi_guild", "run", "tick", "n=20", "delay=0.1", "-r", "other", "-y"],
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
    run_id = out.split("Starting tick on other as ")[1].split()[0]
    assert "Detached from remote run %s (still running)" % run_id in out
    assert "To re-attach use 'guild watch %s -r other'" % run_id in out
    watched = guild("watch", run_id, "-r", "other").stdout.splitlines()
    assert watched[1:-1] == ["tick %d" % i for i in range(1, 21)]
    assert watched[-1] == "Run %s stopped with a status of 'completed'" % run_id


def test_needed_and_stage_are_decided_there(homes: tuple[Path, Path]) -> None:
    guild("run", "echo", "-r", "other", "-y")
    p = guild("run", "echo", "-r", "other", "-y", "--needed")
    assert p.stdout.startswith("Skipping because the following runs match this operation (--needed specified):")
    p = guild("run", "echo", "msg=later", "-r", "other", "-y", "--stage")
    staged = p.stdout.splitlines()[0].split()[-1]
    assert p.stdout.splitlines()[0] == "echo staged on other as %s" % staged
    assert p.stdout.splitlines()[1] == "To start the operation, use 'guild run -r other --start %s'" % staged
    assert listing(guild("runs", "-r", "other", "-Ss"))[0][1:] == ["staged", "msg=later"]
    p = guild("run", "-r", "other", "--start", staged, "-y")
    assert p.stdout.splitlines()[0] == "[later]"


# ------------------------------------------------------------- pull, push


def test_pull_and_push_copy_run_directories(homes: tuple[Path, Path]) -> None:
    here, there = homes
    assert guild("pull", "other", "-y").stderr == "Nothing to copy.\n"
    guild("run", "echo", "msg=one", "-r", "other", "-y")
    guild("run", "echo", "msg=two", "-r", "other", "-y")
    remote_ids = run_ids(there)

    # Without --yes the preview is shown and the answer honoured.
    p = guild("pull", "other", input="n\n", check=False)
    assert p.returncode == 4
    assert p.stderr.startswith("You are about to copy (pull) the following runs from other:\n")
    assert run_ids(here) == []

    p = guild("pull", "other", "2", "-y")  # the older run, as 'guild runs -r other' numbers them
    assert len(p.stderr.splitlines()) == 1 and p.stderr.startswith("Copying ")
    assert [r[1:] for r in listing(guild("runs"))] == [["completed", "msg=one"]]
    assert guild("cat", "-O").stdout == "[one]\n"

    guild("pull", "other", "-y")
    assert run_ids(here) == remote_ids
    assert [r[1:] for r in listing(guild("runs"))] == [["completed", "msg=two"], ["completed", "msg=one"]]
    assert not [n for n in os.listdir(here / "runs") if n.startswith(".")]  # no temporary directories left

    # Push a run made here (with a lock file, which never travels) to the other home.
    guild("run", "echo", "msg=local", "-y")
    local_id = guild("select").stdout.strip()
    (here / "runs" / local_id / ".guild" / "LOCK.remote").write_text("other")
    p = guild("push", "other", local_id, "-y")
    assert p.stderr == "Copying %s\n" % local_id
    assert (there / "runs" / local_id / ".guild" / "output").read_text() == "[local]\n"
    assert not (there / "runs" / local_id / ".guild" / "LOCK.remote").exists()
    assert guild("cat", "-O", local_id, "-r", "other").stdout == "[local]\n"
    assert len(run_ids(there)) == 3


def test_push_keeps_symlinks_as_links(homes: tuple[Path, Path], tmp_path: Path) -> None:
    here, there = homes
    guild("run", "echo", "-y")
    run_id = guild("select").stdout.strip()
    run_dir = here / "runs" / run_id
    os.symlink("echo.py", run_dir / "link-to-source")
    os.symlink(str(tmp_path / "outside"), run_dir / "link-outside")
    guild("push", "other", "-y")
    pushed = there / "runs" / run_id
    assert os.readlink(pushed / "link-to-source") == "echo.py"
    assert os.readlink(pushed / "link-outside") == str(tmp_path / "outside")  # kept as a link, not followed
    assert guild("push", "other", "zzzz", "-y", check=False).stderr.startswith(
        "guild: could not find a run matching 'zzzz'"
    )


def test_pulled_running_run_is_marked_running_there(homes: tuple[Path, Path]) -> None:
    here, _ = homes
    guild("run", "tick", "n=1000", "delay=0.1", "-r", "other", "-y", "--no-wait")
    guild("pull", "other", "-y")
    (run_id,) = run_ids(here)
    guild_dir = here / "runs" / run_id / ".guild"
    assert (guild_dir / "LOCK.remote").read_text() == "other"
    assert not (guild_dir / "LOCK").exists()
    assert listing(guild("runs"))[0][1:3] == ["running", "(other)"]
    p = guild("stop", "-y")  # a local stop leaves it alone
    assert p.stdout + p.stderr == "Nothing to stop.\n"

    guild("stop", "-r", "other", "-y")
    guild("pull", "other", "-y")
    assert not (guild_dir / "LOCK.remote").exists()
    assert listing(guild("runs"))[0][1] == "terminated"


# ----------------------------------------------------------------- config


def write_config(tmp_path: Path, section: str) -> None:
    (tmp_path / "config.yml").write_text("remotes:\n  other:\n    type: local\n%s" % textwrap.indent(section, "    "))


@pytest.mark.parametrize(
    "section, message",
    [
        ("guild-home: nowhere\n", "remote other: guild-home {tmp}/nowhere does not exist (create it, or fix the path)"),
        ("guild-home: config.yml\n", "remote other: guild-home {tmp}/config.yml is not a directory"),
        ("guild-home: here\n", "remote other: guild-home {tmp}/here is this Guild home"),
        ("guild-home: there\nvenv-path: nv\n", "remote other: guild command not found (check venv-path {tmp}/nv)"),
        ("guild-home: there\nguild: no-cmd\n", "remote other: guild command not found (check guild no-cmd)"),
        ("description: x\n", "remote other is missing required config: guild-home"),
    ],
)
def test_config_errors_are_one_line(homes: tuple[Path, Path], tmp_path: Path, section: str, message: str) -> None:
    here, there = homes
    (here / "runs").mkdir(parents=True)
    write_config(tmp_path, section)
    for args in (["runs", "-r", "other"], ["pull", "other", "-y"], ["run", "echo", "-r", "other", "-y"]):
        p = guild(*args, check=False)
        assert p.returncode == 1, args
        assert p.stderr.splitlines()[-1] == "guild: " + message.format(tmp=tmp_path), args
        assert "Traceback" not in p.stderr
    assert not (tmp_path / "nowhere").exists()  # a missing home is not created
    assert run_ids(there) == []


def test_guild_setting_picks_the_executable(homes: tuple[Path, Path], tmp_path: Path) -> None:
    """``guild: PATH`` runs that program for the other home (here a wrapper that leaves a trace)."""
    _, there = homes
    trace = tmp_path / "trace"
    wrapper = tmp_path / "bin" / "my-guild"
    wrapper.parent.mkdir()
    wrapper.write_text(
        '#!/bin/sh\necho "$GUILD_HOME $*" >> %s\nexec %s -m luigi_guild "$@"\n' % (trace, sys.executable)
    )
    wrapper.chmod(0o755)
    write_config(tmp_path, "guild-home: there\nguild: bin/my-guild\n")
    guild("run", "echo", "-r", "other", "-y")
    assert listing(guild("runs", "-r", "other"))[0][1:] == ["completed", "msg=hello"]
    calls = [line.split() for line in trace.read_text().splitlines()]
    assert [c[:2] for c in calls] == [[str(there), "run"], [str(there), "watch"], [str(there), "runs"]]


def test_unknown_remote_type(homes: tuple[Path, Path], tmp_path: Path) -> None:
    (tmp_path / "config.yml").write_text("remotes:\n  cloud:\n    type: ec2\n")
    p = guild("run", "echo", "-r", "cloud", "-y", check=False)
    assert (p.returncode, p.stdout) == (1, "")
    assert p.stderr == "guild: remote cloud has unsupported type 'ec2' (supported: local, slurm, ssh)\n"


def test_local_remote_never_imports_fabric(homes: tuple[Path, Path]) -> None:
    guild("run", "echo", "-r", "other", "-y")
    for args in (["runs", "-r", "other"], ["pull", "other", "-y"], ["remotes"]):
        p = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "luigi_guild", *args], cwd=ECHO, capture_output=True, text=True
        )
        assert p.returncode == 0, p.stderr
        imported = {line.split("|")[-1].strip().split(".")[0] for line in p.stderr.splitlines() if "|" in line}
        assert "luigi_guild" in imported
        assert not imported & {"fabric", "paramiko", "invoke", "luigi"}, args
