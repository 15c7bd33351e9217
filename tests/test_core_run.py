"""`guild run`, `guild runs` and `guild select` end to end, through real processes."""

from __future__ import annotations

import os
import struct

import pytest
import yaml

from helpers import ECHO_PY, FAIL_PY, guild, run_dirs, write_project

ARGPARSE_PY = '''\
import argparse

p = argparse.ArgumentParser()
p.add_argument("--lr", type=float, default=0.1)
p.add_argument("--name", default="net")
p.add_argument("--layers", type=int, default=2, choices=[1, 2, 3])
p.add_argument("--verbose", action="store_true")
args = p.parse_args()
print(args.lr, args.name, args.layers, args.verbose)
'''

ENV_PY = '''\
import os
import sys

rate = 0.5
print(os.environ["FLAG_RATE"], os.environ["RUN_ID"], os.getcwd() == os.environ["RUN_DIR"])
print(os.getppid())
sys.exit(int(os.environ.get("EXIT_WITH", "0")))
'''


@pytest.fixture
def project(tmp_path):
    return write_project(
        str(tmp_path / "proj"),
        {"echo.py": ECHO_PY, "fail.py": FAIL_PY, "args.py": ARGPARSE_PY, "envs.py": ENV_PY},
    )


@pytest.fixture
def home(tmp_path):
    return str(tmp_path / "home")


def test_run_prints_only_script_output_and_records_guild_layout(project, home):
    r = guild("run", "echo.py", "x=2.0", "--run-id", "aaa", "-y", cwd=project, home=home)
    assert (r.exit_code, r.out, r.err) == (0, "2.0 2 'a'\n", "")
    run_dir = os.path.join(home, "runs", "aaa")
    with open(os.path.join(run_dir, ".guild", "opref")) as f:
        assert f.read() == "script:%s '' '' echo.py" % project
    attrs = os.path.join(run_dir, ".guild", "attrs")

    def attr(name):
        with open(os.path.join(attrs, name)) as f:
            return yaml.safe_load(f)

    assert attr("flags") == {"x": 2.0, "y": 2, "z": "a"}
    assert attr("user_flags") == {"x": 2.0}
    assert attr("label") == "x=2.0 y=2 z=a"
    assert attr("exit_status") == 0 and attr("id") == "aaa"
    assert attr("started") <= attr("stopped")
    for name in ("initialized", "cmd", "env", "op", "host", "user", "platform", "sourcecode_digest"):
        assert os.path.exists(os.path.join(attrs, name)), name
    assert os.path.exists(os.path.join(run_dir, "echo.py"))
    assert not os.path.exists(os.path.join(run_dir, ".guild", "LOCK"))
    assert not os.path.exists(os.path.join(run_dir, ".guild", "PENDING"))
    with open(os.path.join(run_dir, ".guild", "output"), "rb") as f:
        assert f.read() == b"2.0 2 'a'\n"
    with open(os.path.join(run_dir, ".guild", "output.index"), "rb") as f:
        index = f.read()
    assert len(index) == 9
    assert struct.unpack(">QB", index)[1] == 0


def test_runs_lists_newest_first_and_select_resolves(project, home):
    for rid, x in (("aaa", "1.0"), ("bbb", "2.0")):
        assert guild("run", "echo.py", "x=" + x, "--run-id", rid, "-y", cwd=project, home=home).exit_code == 0
    out = guild("runs", cwd=project, home=home).out.splitlines()
    assert out[0].startswith("[1:bbb]  echo.py  ") and out[0].endswith("completed  x=2.0 y=2 z=a")
    assert out[1].startswith("[2:aaa]  echo.py  ")
    assert guild("select", cwd=project, home=home).out == "bbb\n"
    assert guild("select", "2", cwd=project, home=home).out == "aaa\n"
    assert guild("select", "--dir", "aa", cwd=project, home=home).out == os.path.join(home, "runs", "aaa") + "\n"
    # Guild's writer quotes the key 'y' (its strict mode reads a bare y as a boolean).
    assert guild("select", "-a", "flags", "aaa", cwd=project, home=home).out == "x: 1.0\n'y': 2\nz: a\n"


def test_runs_shows_dir_suffix_outside_project(project, home, tmp_path):
    guild("run", "echo.py", "-y", cwd=project, home=home)
    line = guild("runs", cwd=str(tmp_path), home=home).out.strip()
    assert "echo.py (proj)" in line


def test_runs_limits_to_20_with_note(project, home):
    runs_root = os.path.join(home, "runs")
    for i in range(22):
        g = os.path.join(runs_root, "r%02d" % i, ".guild")
        os.makedirs(os.path.join(g, "attrs"))
        with open(os.path.join(g, "opref"), "w") as f:
            f.write("script:%s '' '' echo.py" % project)
        with open(os.path.join(g, "attrs", "started"), "w") as f:
            f.write("%d\n" % (1_700_000_000_000_000 + i))
        with open(os.path.join(g, "attrs", "exit_status"), "w") as f:
            f.write("0\n")
    r = guild("runs", cwd=project, home=home)
    assert len(r.out.splitlines()) == 20
    assert r.err == "Showing the first 20 runs (22 total) - use --all to show all or -m to show more\n"
    assert r.out.splitlines()[0].startswith("[1:r21]")
    assert len(guild("runs", "-a", cwd=project, home=home).out.splitlines()) == 22
    assert len(guild("runs", "-n", "3", cwd=project, home=home).out.splitlines()) == 3


def test_needed_skips_matching_completed_run(project, home):
    guild("run", "echo.py", "--run-id", "aaa", "-y", cwd=project, home=home)
    r = guild("run", "echo.py", "x=1", "--needed", "--run-id", "bbb", "-y", cwd=project, home=home)
    assert r.exit_code == 0
    assert r.out.startswith("Skipping because the following runs match this operation (--needed specified):\n  [aaa]  echo.py  ")
    assert run_dirs(home) == ["aaa"]


def test_needed_ignores_error_runs(project, home):
    assert guild("run", "fail.py", "--run-id", "f1", "-y", cwd=project, home=home).exit_code == 1
    r = guild("run", "fail.py", "--needed", "--run-id", "f2", "-y", cwd=project, home=home)
    assert r.exit_code == 1 and "Exception: FAIL" in r.err
    assert run_dirs(home) == ["f1", "f2"]


def test_exit_code_env_and_direct_parent(project, home):
    r = guild("run", "envs.py", "rate=0.25", "--run-id", "e1", "-y", cwd=project, home=home, env={"EXIT_WITH": "7"})
    assert r.exit_code == 7
    first, ppid = r.out.splitlines()
    assert first == "0.25 e1 True"
    with open(os.path.join(home, "runs", "e1", ".guild", "attrs", "exit_status")) as f:
        assert f.read().strip() == "7"
    assert ppid.isdigit()


def test_argparse_script_flags(project, home):
    r = guild("run", "args.py", "lr=0.5", "verbose=yes", "layers=3", "-y", cwd=project, home=home)
    assert (r.exit_code, r.out) == (0, "0.5 net 3 True\n")
    bad = guild("run", "args.py", "layers=5", "-y", cwd=project, home=home)
    assert bad.exit_code == 1 and bad.err.startswith("guild: invalid value 5 for layers")


def test_restart_overlays_flags_and_refuses_running(project, home):
    guild("run", "echo.py", "--run-id", "aaa", "-y", cwd=project, home=home)
    r = guild("run", "--restart", "aaa", "x=3.5", "-y", cwd=project, home=home)
    assert r.out == "3.5 2 'a'\n"
    r = guild("run", "--restart", "aaa", "--needed", "-y", cwd=project, home=home)
    assert r.out == "Skipping run because flags have not changed (--needed specified)\n"
    with open(os.path.join(home, "runs", "aaa", ".guild", "LOCK"), "w") as f:
        f.write(str(os.getpid()))
    os.remove(os.path.join(home, "runs", "aaa", ".guild", "attrs", "exit_status"))
    r = guild("run", "--restart", "aaa", "-y", cwd=project, home=home)
    assert r.exit_code == 1
    assert r.err == (
        "guild: cannot restart run aaa because it's running\n"
        "Use 'guild stop aaa' to stop it first and try again.\n"
    )


def test_stage_then_start(project, home):
    r = guild("run", "echo.py", "x=4.0", "--stage", "--run-id", "st", "-y", cwd=project, home=home)
    assert r.out == "echo.py staged as st\nTo start the operation, use 'guild run --start st'\n"
    g = os.path.join(home, "runs", "st", ".guild")
    assert os.path.exists(os.path.join(g, "STAGED")) and os.path.exists(os.path.join(g, "ENV"))
    assert "staged" in guild("runs", cwd=project, home=home).out
    r = guild("run", "--start", "st", "-y", cwd=project, home=home)
    assert r.out == "4.0 2 'a'\n" and not os.path.exists(os.path.join(g, "STAGED"))


def test_print_cmd_creates_nothing(project, home):
    r = guild("run", "echo.py", "x=3", "--print-cmd", cwd=project, home=home)
    assert r.exit_code == 0 and "luigi_guild.op_main echo --x 3" in r.out
    assert run_dirs(home) == []


@pytest.mark.parametrize(
    "args, first_line",
    [
        (["run", "nope.py", "-y"], "guild: cannot find operation nope.py"),
        (["run", "echo.py", "x", "-y"], "guild: invalid argument 'x' - expected NAME=VAL"),
        (["run", "echo.py", "w=1", "-y"], "guild: unsupported flag 'w'"),
        (["run", "echo.py", "x=abc", "-y"], "guild: invalid value abc for x: expected a number"),
        (["run", "echo.py", "--run-id", "../x", "-y"], "guild: invalid run ID '../x'"),
        (["run", "--restart", "zzz", "-y"], "guild: could not find a run matching 'zzz'"),
        (["select", "zzz"], "guild: could not find a run matching 'zzz'"),
        (["select", "a"], "guild: 'a' matches multiple runs:"),
    ],
)
def test_bad_input_gives_one_clear_line_and_no_run(project, home, args, first_line):
    guild("run", "echo.py", "--run-id", "ab1", "-y", cwd=project, home=home)
    guild("run", "echo.py", "x=5.0", "--run-id", "ab2", "-y", cwd=project, home=home)
    before = run_dirs(home)
    r = guild(*args, cwd=project, home=home)
    assert r.exit_code != 0
    assert r.err.splitlines()[0].startswith(first_line), r.err
    assert "Traceback" not in r.err + r.out
    assert run_dirs(home) == before


def test_guild_home_option_and_creation(project, tmp_path):
    new_home = str(tmp_path / "does" / "not" / "exist")
    r = guild("-H", new_home, "run", "echo.py", "-y", cwd=project, home=str(tmp_path / "other"))
    assert r.exit_code == 0
    assert len(run_dirs(new_home)) == 1
    assert run_dirs(str(tmp_path / "other")) == []


def test_background_run_returns_once_running(project, home, tmp_path):
    write_project(project, {"slow.py": "import time\nseconds = 1.5\ntime.sleep(seconds)\nprint('done')\n"})
    pidfile = str(tmp_path / "pid")
    r = guild("run", "slow.py", "--run-id", "bg", "-b", "--pidfile", pidfile, "-y", cwd=project, home=home)
    assert r.exit_code == 0
    assert r.out == "slow.py started in background as bg (pidfile %s)\n" % pidfile
    assert os.path.exists(os.path.join(home, "runs", "bg", ".guild", "LOCK"))
    assert "running" in guild("runs", cwd=project, home=home).out
    import time

    deadline = time.time() + 20
    while time.time() < deadline and "completed" not in guild("runs", cwd=project, home=home).out:
        time.sleep(0.2)
    assert "completed" in guild("runs", cwd=project, home=home).out
    with open(os.path.join(home, "runs", "bg", ".guild", "output")) as f:
        assert f.read() == "done\n"
    assert not os.path.exists(pidfile)
