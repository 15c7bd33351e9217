"""Inspecting and managing runs: filters, rm/restore/purge, info, ls, cat, stop, watch, label, tag.

Every test drives the real ``guild`` CLI in a subprocess against its own
GUILD_HOME, with real runs of the ``inspect`` sample project.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
PROJECT = os.path.join(HERE, "samples", "projects", "inspect")


class Guild:
    """Runs ``guild`` commands in a copy of the sample project with its own Guild home."""

    def __init__(self, tmp_path):
        self.project = str(tmp_path / "project")
        shutil.copytree(PROJECT, self.project)
        self.home = str(tmp_path / "guild-home")
        os.makedirs(self.home)
        self.env = dict(os.environ, GUILD_HOME=self.home, COLUMNS="999", SYNC_RUN_OUTPUT="1")
        self.env.pop("NO_WATCHING_MSG", None)

    def argv(self, args: str | list[str]) -> list[str]:
        import shlex

        return [sys.executable, "-m", "luigi_guild"] + (shlex.split(args) if isinstance(args, str) else args)

    def __call__(self, args, input: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(
            self.argv(args), cwd=self.project, env=self.env, capture_output=True, text=True,
            input=input if input is not None else "", timeout=timeout,
        )

    def ok(self, args, **kw) -> subprocess.CompletedProcess:
        p = self(args, **kw)
        assert p.returncode == 0, (args, p.stdout, p.stderr)
        return p

    def start(self, args) -> subprocess.Popen:
        return subprocess.Popen(
            self.argv(args), cwd=self.project, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )

    def run_dir(self, run_id: str) -> str:
        return os.path.join(self.home, "runs", run_id)

    def wait_running(self, run_id: str, proc: subprocess.Popen, limit: float = 30) -> None:
        """Wait until the run's LOCK names the script process (not the launcher)."""
        lock = os.path.join(self.run_dir(run_id), ".guild", "LOCK")
        output = os.path.join(self.run_dir(run_id), ".guild", "output")
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.stdout.read()
            if os.path.exists(output) and os.path.getsize(output) > 0 and os.path.exists(lock):
                with open(lock) as f:
                    if f.read().strip() != str(proc.pid):
                        return
            time.sleep(0.05)
        raise AssertionError("run %s did not start" % run_id)


@pytest.fixture
def guild(tmp_path):
    return Guild(tmp_path)


@pytest.fixture
def three_runs(guild):
    """Runs aaa1 (completed), aaa2 (completed, labeled, tagged), bbb (error), newest last."""
    guild.ok("run say.py --run-id aaa1 -y")
    guild.ok("run say.py msg=yo --run-id aaa2 -y -t best -l 'best run'")
    p = guild("run say.py code=3 --run-id bbb -y")
    assert p.returncode == 3
    return guild


def ids(out: str) -> list[str]:
    return [line.split("]")[0].split(":")[-1].lstrip("[") for line in out.splitlines() if line.startswith("[")]


# ------------------------------------------------------------------ listing


def test_list_and_status_filters(three_runs):
    g = three_runs
    assert ids(g.ok("runs").stdout) == ["bbb", "aaa2", "aaa1"]
    assert ids(g.ok("runs -Sc").stdout) == ["aaa2", "aaa1"]
    assert ids(g.ok("runs --completed").stdout) == ["aaa2", "aaa1"]
    assert ids(g.ok("runs -Se").stdout) == ["bbb"]
    assert ids(g.ok("runs -Sec").stdout) == ["bbb", "aaa2", "aaa1"]
    assert ids(g.ok("runs --not-completed").stdout) == ["bbb"]
    assert ids(g.ok("runs --not-completed --not-error").stdout) == []
    assert g.ok("runs -Sr").stdout == ""
    assert ids(g.ok("runs -St -Se").stdout) == ["bbb"]


def test_bad_status_char(three_runs):
    p = three_runs("runs -Sx")
    assert p.returncode == 1
    assert p.stderr == (
        "guild: unrecognized status char 'x' in option '-S'\nTry 'guild runs --help' for more information.\n"
    )


def test_operation_and_label_filters(three_runs):
    g = three_runs
    g.ok("run sleep.py seconds=0 --run-id ccc -y")
    assert ids(g.ok("runs -Fo sleep.py").stdout) == ["ccc"]
    assert ids(g.ok("runs -Fo 's*.py'").stdout) == ["ccc", "bbb", "aaa2", "aaa1"]
    assert ids(g.ok("runs -Fo 'sa*'").stdout) == ["bbb", "aaa2", "aaa1"]
    assert ids(g.ok("runs -Fo '^sl'").stdout) == ["ccc"]
    assert ids(g.ok("runs -Fl best").stdout) == ["aaa2"]
    assert ids(g.ok("runs -Ft best").stdout) == ["aaa2"]
    assert ids(g.ok("runs -Fo say.py -Sc").stdout) == ["aaa2", "aaa1"]
    # index numbers follow the filtered list
    assert g.ok("runs -Fl best").stdout.startswith("[1:aaa2]")
    assert g.ok("select -Fo say.py 2").stdout.strip() == "aaa2"


def test_simplified_json_limit_more(three_runs):
    g = three_runs
    lines = g.ok("runs -s").stdout.splitlines()
    assert lines[0].split() == ["[1]", "say.py", "error", "code=3", "msg=hi"]
    data = json.loads(g.ok("runs --json").stdout)
    assert [d["id"] for d in data] == ["bbb", "aaa2", "aaa1"]
    for key in ("id", "run_dir", "opref", "exit_status", "cmd", "comments", "marked", "label", "started",
                "status", "stopped", "tags"):
        assert key in data[0]
    assert data[0]["status"] == "error" and data[0]["exit_status"] == 3
    assert data[1]["tags"] == ["best"]
    p = g.ok("runs -n 1")
    assert ids(p.stdout) == ["bbb"] and p.stderr == ""
    p = g.ok("runs --json -n 1")
    assert len(json.loads(p.stdout)) == 3 and "--json option always shows all runs" in p.stderr


def test_default_limit_and_more(guild):
    runs_dir = os.path.join(guild.home, "runs")
    guild.ok("run say.py --run-id r00 -y")
    src = os.path.join(runs_dir, "r00")
    for i in range(1, 25):
        shutil.copytree(src, os.path.join(runs_dir, "r%02d" % i), symlinks=True)
        with open(os.path.join(runs_dir, "r%02d" % i, ".guild", "attrs", "started"), "w") as f:
            f.write("%d\n" % (1_700_000_000_000_000 + i))
    p = guild.ok("runs")
    assert len(ids(p.stdout)) == 20
    assert p.stderr == "Showing the first 20 runs (25 total) - use --all to show all or -m to show more\n"
    p = guild.ok("runs -m")
    assert len(ids(p.stdout)) == 25 and p.stderr == ""
    assert len(ids(guild.ok("runs -a").stdout)) == 25


def test_options_before_subcommand(three_runs):
    p = three_runs("runs -Sc rm")
    assert p.returncode == 1
    assert p.stderr.startswith("guild: options cannot be listed before command ('rm')")


# ---------------------------------------------------------------- selection


def test_selection_errors(three_runs):
    g = three_runs
    p = g("runs info zzz")
    assert p.returncode == 1
    assert p.stderr == (
        "guild: could not find a run matching 'zzz'\n"
        "Try 'guild runs list' for a list or 'guild runs info --help' for more information.\n"
    )
    p = g("runs info aaa")
    assert p.returncode == 1
    assert "'aaa' matches multiple runs:\n  aaa2\n  aaa1\n" in p.stderr
    assert "Traceback" not in p.stderr
    p = g("runs info -Fl nothing-like-this")
    assert p.returncode == 1 and p.stderr == "guild: no matching runs\n"


def test_select_slices(three_runs):
    g = three_runs
    assert g.ok("select -A 2:").stdout.split() == ["aaa2", "aaa1"]
    assert g.ok("select -A :").stdout.split() == ["bbb", "aaa2", "aaa1"]
    assert g.ok("select 3").stdout.strip() == "aaa1"
    assert g.ok("select aaa1").stdout.strip() == "aaa1"


# ------------------------------------------------------- rm/restore/purge


def test_rm_restore_purge(three_runs):
    g = three_runs
    p = g.ok("runs rm aaa1", input="y\n")
    assert p.stderr.startswith("You are about to delete the following runs:\n  [aaa1]  say.py  ")
    assert "Delete 1 run(s)? (Y/n) " in p.stderr
    assert p.stderr.endswith("Deleted 1 run(s)\n")
    assert ids(g.ok("runs").stdout) == ["bbb", "aaa2"]
    assert os.path.isdir(os.path.join(g.home, "trash", "runs", "aaa1", ".guild"))
    assert ids(g.ok("runs -d").stdout) == ["aaa1"]
    assert ids(g.ok("runs list --deleted").stdout) == ["aaa1"]

    p = g.ok("runs restore 1 -y")
    assert p.stderr == "Restored 1 run(s)\n"
    assert ids(g.ok("runs").stdout) == ["bbb", "aaa2", "aaa1"]
    assert g.ok("runs restore -y").stderr == "Nothing to restore.\n"

    assert g.ok("runs delete -Se -y").stderr == "Deleted 1 run(s)\n"
    p = g.ok("runs purge", input="y\n")
    assert p.stderr.startswith("WARNING: You are about to permanently delete the following runs:\n  [bbb]")
    assert "Permanently delete 1 run(s)? (y/N) " in p.stderr
    assert p.stderr.endswith("Permanently deleted 1 run(s)\n")
    assert not os.path.exists(os.path.join(g.home, "trash", "runs", "bbb"))
    assert g.ok("runs purge -y").stderr == "Nothing to purge.\n"

    p = g.ok("runs rm -p -y aaa2")
    assert p.stderr == "Permanently deleted 1 run(s)\n"
    assert not os.path.exists(g.run_dir("aaa2"))
    assert ids(g.ok("runs -d").stdout) == []


def test_rm_declined_and_nothing(three_runs):
    g = three_runs
    p = g("runs rm -p 1", input="\n")  # default for permanent delete is No
    assert p.returncode == 4
    assert os.path.isdir(g.run_dir("bbb"))
    assert g.ok("runs rm -Sr -y").stderr == "Nothing to delete.\n"
    p = g("runs rm zzz -y")
    assert p.returncode == 1 and p.stderr.startswith("guild: could not find a run matching 'zzz'")
    assert ids(g.ok("runs").stdout) == ["bbb", "aaa2", "aaa1"]


def test_rm_moves_aside_existing_trash(three_runs):
    g = three_runs
    g.ok("runs rm aaa1 -y")
    g.ok("run say.py --run-id aaa1 -y")
    p = g.ok("runs rm aaa1 -y")
    assert "WARNING:" in p.stderr
    trash = sorted(os.listdir(os.path.join(g.home, "trash", "runs")))
    assert trash[0] == "aaa1" and trash[1].startswith("aaa1_") and len(trash) == 2


# --------------------------------------------------------------------- info


def test_runs_info(three_runs):
    out = three_runs.ok("runs info aaa2").stdout
    lines = out.splitlines()
    assert lines[0] == "id: aaa2"
    assert "operation: say.py" in lines
    assert "status: completed" in lines
    assert "label: best run" in lines
    assert "exit_status: 0" in lines
    assert "run_dir: %s" % three_runs.run_dir("aaa2") in lines
    assert any(line.startswith("started: 20") for line in lines)
    assert any(line.startswith("stopped: 20") for line in lines)
    assert lines[lines.index("tags:") + 1] == "  - best"
    flags_at = lines.index("flags:")
    assert lines[flags_at + 1 : flags_at + 3] == ["  code: 0", "  msg: yo"]
    latest = three_runs.ok("runs info").stdout
    assert "id: bbb" in latest and "exit_status: 3" in latest and "status: error" in latest
    data = json.loads(three_runs.ok("runs info --json 3").stdout)
    assert data["id"] == "aaa1" and data["flags"] == {"code": 0, "msg": "hi"}


# ------------------------------------------------------------------- ls/cat


def test_ls_patterns(three_runs):
    g = three_runs
    p = g.ok("ls aaa1")
    assert p.stdout.splitlines()[0].endswith("/runs/aaa1:")
    assert "  say.py" in p.stdout.splitlines() and "  sleep.py" in p.stdout.splitlines()
    assert ".guild" not in p.stdout
    assert ".guild/attrs/exit_status" in g.ok("ls -a -n aaa1").stdout.splitlines()
    assert ".guild/" in g.ok("ls -a -n aaa1").stdout.splitlines()
    # wildcards match from the run root, part by part
    assert g.ok("ls -nap 'LOCK*' aaa1").stdout == ""
    assert g.ok("ls -nap '*.py' aaa1").stdout.split() == ["say.py", "sleep.py"]
    open(os.path.join(g.run_dir("aaa1"), ".guild", "LOCK.remote"), "w").write("guild-uat")
    assert g.ok("ls -np '.guild/LOCK*' aaa1").stdout == ".guild/LOCK.remote\n"
    assert g.ok("ls -np .guild/attrs/exit_status aaa1").stdout == ".guild/attrs/exit_status\n"
    assert g.ok("ls -np .guild/attrs/nope aaa1").stdout == ""
    full = g.ok("ls -f -p say.py aaa1").stdout
    assert full == os.path.join(g.run_dir("aaa1"), "say.py") + "\n"
    p = g("ls -p /etc")
    assert p.returncode == 1
    assert p.stderr == "guild: PATH must be relative\nTry 'guild ls --help' for more information.\n"


def test_cat(three_runs):
    g = three_runs
    assert g.ok("cat -p .guild/attrs/exit_status").stdout == "3\n"
    assert g.ok("cat aaa2 -p .guild/attrs/label").stdout == "best run\n"
    assert g.ok("cat aaa2 --output").stdout == "yo\n"
    assert g.ok("cat -O 3").stdout == "hi\n"
    p = g("cat")
    assert p.returncode == 1
    assert p.stderr.startswith("guild: -p / --path is required unless --output is specified\n")
    p = g("cat -p nope.txt")
    assert p.returncode == 1
    assert p.stderr == "guild: %s does not exist\n" % os.path.join(g.run_dir("bbb"), "nope.txt")


def test_cat_refuses_paths_outside_run(three_runs, tmp_path):
    g = three_runs
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET\n")
    rel = os.path.relpath(str(secret), g.run_dir("bbb"))
    assert rel.startswith("..")
    for path in ["../../etc/passwd", rel, str(secret), "/etc/passwd"]:
        p = g(["cat", "-p", path])
        assert p.returncode == 1, path
        assert p.stdout == "" and "TOP SECRET" not in p.stderr and "root:" not in p.stdout
        assert p.stderr.startswith("guild: "), p.stderr
        assert "Traceback" not in p.stderr
    assert g(["cat", "-p", "../../etc/passwd"]).stderr.startswith(
        "guild: '../../etc/passwd' is outside the run directory"
    )
    # a symlink inside the run that leads outside is refused too
    os.symlink(str(secret), os.path.join(g.run_dir("bbb"), "link.txt"))
    p = g("cat -p link.txt")
    assert p.returncode == 1 and "TOP SECRET" not in p.stdout
    assert p.stderr.startswith("guild: 'link.txt' is outside the run directory")
    # a symlink to another run's file (how upstream runs are linked) is fine
    os.symlink(os.path.join(g.run_dir("aaa1"), "say.py"), os.path.join(g.run_dir("bbb"), "up.py"))
    assert g.ok("cat -p up.py").stdout.startswith('msg = "hi"')


# ------------------------------------------------------------- stop / watch


def test_stop_watch_real_run(guild):
    proc = guild.start("run sleep.py seconds=120 --run-id slp -y")
    try:
        guild.wait_running("slp", proc)
        p = guild.ok("runs")
        assert ids(p.stdout) == ["slp"] and "  running  " in p.stdout
        assert ids(guild.ok("runs -Sr").stdout) == ["slp"]
        assert ids(guild.ok("runs --not-running").stdout) == []
        watcher = guild.start("watch")
        # the watch has begun (and printed the output so far) before we stop
        first = watcher.stdout.readline().decode() + watcher.stdout.readline().decode()
        p = guild.ok("stop", input="y\n")
        assert p.stderr.startswith("You are about to stop the following runs:\n  [slp]")
        assert "Stop 1 run(s)? (y/N) " in p.stderr
        assert "Stopping slp (pid " in p.stderr
        assert proc.wait(timeout=30) == 128 + 15
        watched = first + watcher.communicate(timeout=30)[0].decode()
        assert watched.splitlines() == ["Watching run slp", "start", "Run slp stopped with a status of 'terminated'"]
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "  terminated  " in guild.ok("runs").stdout
    assert guild.ok("cat -p .guild/attrs/exit_status").stdout == "-15\n"
    assert not os.path.exists(os.path.join(guild.run_dir("slp"), ".guild", "LOCK"))
    # stopping again: a finished run is reported, nothing is signalled
    p = guild.ok("stop slp -y")
    assert p.stdout == "Run slp is not running\n"
    assert guild.ok("stop -y").stderr == "Nothing to stop.\n"


TREE_SCRIPT = (
    "import subprocess, sys, time\n"
    "child = subprocess.Popen([sys.executable, '-c', 'import signal, time; "
    "signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(300)'])\n"
    "print('child pid', child.pid, flush=True)\n"
    "time.sleep(300)\n"
)


def _start_tree(guild, run_id):
    with open(os.path.join(guild.project, "tree.py"), "w") as f:
        f.write(TREE_SCRIPT)
    proc = guild.start("run tree.py --run-id %s -y" % run_id)
    guild.wait_running(run_id, proc)
    out_path = os.path.join(guild.run_dir(run_id), ".guild", "output")
    line = open(out_path).read().splitlines()[0]
    assert line.startswith("child pid")
    return proc, int(line.split()[2])


def test_stop_reports_survivors(guild):
    """A child that ignores SIGTERM is reported (exit 1) when --force is not given."""
    proc, child_pid = _start_tree(guild, "tree")
    try:
        p = guild("stop -y --timeout 1")
        assert p.returncode == 1
        assert p.stdout == "The following processes did not stop as expected: %d\n" % child_pid
        os.kill(child_pid, 0)  # still alive
    finally:
        for pid in (child_pid,):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        assert proc.wait(timeout=30) == 128 + 15
    assert guild.ok("select -a status tree").stdout.strip() == "terminated"


def test_stop_force_kills_the_tree(guild):
    proc, child_pid = _start_tree(guild, "tree")
    try:
        p = guild("stop tree -y --force --timeout 1")
        assert p.returncode == 0, p.stdout + p.stderr
        assert proc.wait(timeout=30) == 128 + 15
        from luigi_guild.store.rundir import pid_alive

        assert not pid_alive(child_pid)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert guild.ok("select -a status tree").stdout.strip() == "terminated"
    assert guild.ok("cat -p .guild/attrs/exit_status").stdout == "-15\n"


def test_rm_stops_running_run(guild):
    proc = guild.start("run sleep.py seconds=120 --run-id slp -y")
    try:
        guild.wait_running("slp", proc)
        p = guild.ok("runs rm slp -y")
        assert "Stopping slp (pid " in p.stderr and p.stderr.endswith("Deleted 1 run(s)\n")
        assert proc.wait(timeout=30) == 128 + 15, proc.stdout.read().decode()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert ids(guild.ok("runs -d").stdout) == ["slp"]
    assert "  terminated  " in guild.ok("runs -d").stdout


def test_watch_finished_and_nothing(three_runs):
    g = three_runs
    p = g("watch")
    assert p.returncode == 1
    assert p.stderr == (
        "guild: nothing to watch\nYou can view the output of a specific run using 'guild watch RUN'.\n"
    )
    p = g.ok("watch aaa2")
    assert p.stdout == "yo\n"
    assert p.stderr == "Watching run aaa2\nRun aaa2 stopped with a status of 'completed'\n"
    p = g("watch zzz")
    assert p.returncode == 1 and p.stderr.startswith("guild: could not find a run matching 'zzz'")


# ------------------------------------------------------------ labels / tags


def test_run_label_and_tag_options(three_runs):
    g = three_runs
    assert g.ok("select -a label aaa2").stdout.strip() == "best run"
    assert g.ok("select -a tags aaa2").stdout.strip() == "- best"
    g.ok("run say.py --run-id t2 -y -t a -t b")
    assert g.ok("select -a label t2").stdout.strip() == "a b code=0 msg=hi"


def test_label_command(three_runs):
    g = three_runs
    p = g.ok("label aaa1 --set 'msg is ${msg}'", input="y\n")
    assert p.stderr.startswith("You are about to label the following runs with 'msg is ${msg}':\n  [aaa1]")
    assert p.stderr.endswith("Continue? (Y/n) Labeled 1 run(s)\n")
    assert g.ok("select -a label aaa1").stdout.strip() == "msg is hi"
    g.ok("label aaa1 -p new -y")
    g.ok("label aaa1 -a tail -y")
    assert g.ok("select -a label aaa1").stdout.strip() == "new msg is hi tail"
    g.ok("label aaa1 -rm is -rm tail -y")
    assert g.ok("select -a label aaa1").stdout.strip() == "new msg hi"
    assert g.ok("label -c -y aaa1").stderr == "Cleared label for 1 run(s)\n"
    assert ids(g.ok("runs -Fl -").stdout) == ["aaa1"]
    g.ok("label -s latest -y")
    assert g.ok("select -a label 1").stdout.strip() == "latest"
    p = g("label aaa1")
    assert p.returncode == 1 and p.stderr.startswith("guild: specify one of --set")
    p = g("label aaa1 -s x -c")
    assert p.returncode == 1 and p.stderr == "guild: --set cannot be used with --clear\n"
    p = g("label zzz -s x -y")
    assert p.returncode == 1 and p.stderr.startswith("guild: could not find a run matching 'zzz'")


def test_tag_command(three_runs):
    g = three_runs
    p = g.ok("tag aaa1 -a x -a y", input="\n")
    assert p.stderr.startswith("You are about to modify tags for the following runs:\n")
    assert p.stderr.endswith("Modified tags for 1 run(s)\n")
    # Guild's writer quotes the string 'y' (its strict mode reads a bare y as a boolean).
    assert g.ok("select -a tags aaa1").stdout.split() == ["-", "x", "-", "'y'"]
    assert ids(g.ok("runs -Ft x").stdout) == ["aaa1"]
    g.ok("tag aaa1 -d x -y")
    assert g.ok("select -a tags aaa1").stdout.split() == ["-", "'y'"]
    assert g.ok("tag -l").stdout.split() == ["best", "y"]
    g.ok("tag aaa2 -d best -s -y")
    assert g.ok("select -a label aaa2").stdout.strip() == "run"
    g.ok("tag aaa2 -a good -s -y")
    assert g.ok("select -a label aaa2").stdout.strip() == "good run"
    g.ok("tag aaa1 -c -y")
    assert g.ok("select -a tags aaa1").stdout.strip() == "[]"
    p = g("tag aaa1")
    assert p.returncode == 1 and p.stderr.startswith("guild: specify one of --add")


# ------------------------------------------------------------ help, completion


@pytest.mark.parametrize(
    "cmd",
    ["", "runs", "runs list", "runs rm", "runs delete", "runs restore", "runs purge", "runs info", "runs stop",
     "ls", "cat", "stop", "watch", "label", "tag", "select", "run"],
)
def test_help(guild, cmd):
    p = guild.ok(cmd + " --help")
    assert p.stdout.startswith("Usage: guild")
    assert "Options:" in p.stdout


def test_help_describes_options(guild):
    assert "--permanent" in guild.ok("runs rm --help").stdout
    out = guild.ok("runs --help").stdout
    for opt in ("-Fo, --operation", "-Fl, --label", "-Sr, --running", "--not-running", "-S CHARS", "--json",
                "-d, --deleted", "-s, --simplified", "-m, --more"):
        assert opt in out, opt
    assert "--force" in guild.ok("stop --help").stdout and "--timeout" in guild.ok("stop --help").stdout
    assert "-O, --output" in guild.ok("cat --help").stdout


def test_shell_completion(guild):
    env = dict(guild.env, _GUILD_COMPLETE="bash_source")
    p = subprocess.run([os.path.join(os.path.dirname(sys.executable), "guild")], env=env, capture_output=True,
                       text=True)
    assert p.returncode == 0 and "_guild_completion()" in p.stdout and "complete " in p.stdout
    env = dict(guild.env, _GUILD_COMPLETE="bash_complete", COMP_WORDS="guild ru", COMP_CWORD="1")
    p = subprocess.run([os.path.join(os.path.dirname(sys.executable), "guild")], env=env, capture_output=True,
                       text=True)
    assert p.stdout.split() == ["plain,run", "plain,runs"]
    env.update(COMP_WORDS="guild runs re", COMP_CWORD="2")
    p = subprocess.run([os.path.join(os.path.dirname(sys.executable), "guild")], env=env, capture_output=True,
                       text=True)
    assert p.stdout.split() == ["plain,restore"]
