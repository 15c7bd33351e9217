"""Fast paths import only what they use, and their shortcuts agree with the slow way."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from luigi_guild.model import flags
from luigi_guild.store import rundir

sys.path.insert(0, os.path.dirname(__file__))
import perf_fixtures  # noqa: E402

HEAVY = {"click", "yaml", "luigi", "fabric", "paramiko", "invoke", "psutil", "tornado", "starlette", "uvicorn", "anyio"}
# Cheap for most programs, but each costs more than reading the run index: never on the listing path.
LISTING_AVOIDS = {"typing", "re", "datetime", "shlex", "json"}

PROBE = """
import atexit
import sys

def report():  # an exit handler: the quick exit of some fast paths runs those too
    loaded = sorted({m.split(".")[0] for m in sys.modules} & %r)
    sys.stderr.write("LOADED=%%s\\n" %% ",".join(loaded))

atexit.register(report)
from luigi_guild.entry import main
try:
    main(sys.argv[1:])
except SystemExit as e:
    code = e.code
""" % (HEAVY | LISTING_AVOIDS,)


def loaded_modules(args: list[str], home: str, cwd: str) -> tuple[str, set[str]]:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE] + args,
        env=dict(os.environ, GUILD_HOME=home),
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    line = [x for x in proc.stderr.splitlines() if x.startswith("LOADED=")][-1]
    return proc.stdout, set(filter(None, line[len("LOADED=") :].split(",")))


def test_guild_runs_imports_nothing_heavy(tmp_path):
    home, proj = str(tmp_path / "home"), str(tmp_path / "proj")
    perf_fixtures.make_home(home, 30, proj)
    out, _ = loaded_modules(["runs"], home, proj)  # builds the index (reads YAML)
    assert out.count("completed") == 20
    time.sleep(3.2)  # past the index's racy window, so the runs count as settled
    loaded_modules(["runs"], home, proj)
    for args in (["runs"], ["runs", "--all"], ["runs", "list", "-n", "5"]):
        out, loaded = loaded_modules(args, home, proj)
        assert "completed" in out
        assert loaded == set(), args
    _, loaded = loaded_modules(["runs"], str(tmp_path / "empty"), proj)
    assert loaded == set()


def test_plain_compare_csv_skips_click_and_agrees_with_the_click_command(tmp_path):
    home, proj = str(tmp_path / "home"), str(tmp_path / "proj")
    perf_fixtures.make_home(home, 12, proj)
    fast, loaded = loaded_modules(["compare", "--csv", "-"], home, proj)
    assert not loaded & HEAVY, loaded
    assert fast.count("\n") == 13 and fast.startswith("run,operation,started,time,status,label,")
    # ``:`` (every run, the default) takes the click command: the same bytes
    slow, loaded = loaded_modules(["compare", "--csv", "-", ":"], home, proj)
    assert "click" in loaded and slow == fast
    out_file = tmp_path / "out.csv"
    for args in (["-H", home, "compare", "--csv=%s" % out_file], ["compare", "--csv", str(out_file), ":"]):
        proc = subprocess.run([sys.executable, "-m", "luigi_guild", *args], env=dict(os.environ, GUILD_HOME=home),
                              cwd=proj, capture_output=True, text=True)
        assert (proc.returncode, proc.stderr) == (0, "Wrote 12 row(s) to %s\n" % out_file), args
        assert out_file.read_text() == fast
    bad = [subprocess.run([sys.executable, "-m", "luigi_guild", "compare", "--csv", "/nonexistent/x.csv", *more],
                          env=dict(os.environ, GUILD_HOME=home), cwd=proj, capture_output=True, text=True)
           for more in ([], [":"])]
    assert [(p.returncode, p.stderr) for p in bad] == [(1, "guild: cannot write /nonexistent/x.csv: No such file or directory\n")] * 2


def test_needed_skip_imports_no_luigi_or_fabric(tmp_path):
    home, proj = str(tmp_path / "home"), str(tmp_path / "proj")
    perf_fixtures.make_home(home, 10, proj)
    time.sleep(3.2)
    loaded_modules(["runs"], home, proj)
    out, loaded = loaded_modules(["run", "echo.py", "--needed", "-y"], home, proj)
    assert out.startswith("Skipping because")
    # click parses `guild run` (and brings re/typing); matches are re-read without PyYAML
    assert loaded & HEAVY == {"click"}


def test_plain_run_imports_no_yaml_luigi_or_fabric(tmp_path):
    """A single `guild run` writes its attrs without PyYAML and schedules without Luigi."""
    home, proj = str(tmp_path / "home"), str(tmp_path / "proj")
    perf_fixtures.make_home(home, 0, proj)
    out, loaded = loaded_modules(["run", "echo.py", "x=3.5", "-y"], home, proj)
    assert "3.5" in out
    assert loaded & HEAVY == {"click"}
    runs = os.listdir(os.path.join(home, "runs"))
    assert len(runs) == 1
    attrs = os.path.join(home, "runs", runs[0], ".guild", "attrs")
    with open(os.path.join(attrs, "flags")) as f:
        assert yaml.safe_load(f)["x"] == 3.5
    for name in ("cmd", "env", "op", "platform"):
        with open(os.path.join(attrs, name)) as f:
            assert yaml.safe_load(f), name  # written by our YAML writer, read by PyYAML


def test_run_child_imports_nothing_beyond_the_script(tmp_path):
    """The child that runs a script (``op_main``) starts as cheaply as the script itself would."""
    script = tmp_path / "echo.py"
    script.write_text("x = 1.0\nprint(x)\n")
    probe = (
        "import sys, runpy\n"
        "sys.argv = ['op_main', 'echo', '--x', '2.5']\n"
        "try:\n"
        "    runpy.run_module('luigi_guild.op_main', run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass\n"
        "sys.stderr.write('LOADED=%%s\\n' %% ','.join(sorted({m.split('.')[0] for m in sys.modules} & %r)))\n"
        % (HEAVY | LISTING_AVOIDS,)
    )
    proc = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert proc.stdout == "2.5\n"
    line = [x for x in proc.stderr.splitlines() if x.startswith("LOADED=")][-1]
    assert line == "LOADED="


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="abnoyesYESNOtrufalsNuLl_./-019:= ", min_size=1, max_size=8))
def test_plain_word_shortcut_agrees_with_yaml(s):
    if flags._PLAIN_WORD_RE.match(s) and s not in flags._YAML_WORDS:
        assert yaml.safe_load(s) == s


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="-0123456789 +_xo.", min_size=1, max_size=6))
def test_plain_int_shortcut_agrees_with_yaml(s):
    if rundir._is_plain_int(s.strip()):
        assert rundir.decode_attr(s) == yaml.safe_load(s)


def test_op_main_child_loads_no_ast_or_enum_module(tmp_path):
    """The flag-setting child parses with the C ``_ast`` module: ``ast`` and ``enum`` cost ~10 ms a trial."""
    (tmp_path / "probe.py").write_text(
        "import sys\nx = 1\nprint(x, sorted(m for m in ('ast', 'enum', 'typing') if m in sys.modules))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-um", "luigi_guild.op_main", "probe", "--x", "7"],
        cwd=tmp_path, env=dict(os.environ, PYTHONPATH=str(tmp_path)), capture_output=True, text=True, check=True,
    )
    assert proc.stdout == "7 []\n", proc.stderr


def test_quick_exit_runs_exit_handlers_and_keeps_the_exit_code(tmp_path):
    mark = tmp_path / "handler-ran"
    code = (
        "import atexit, sys\n"
        "from luigi_guild import exits\n"
        "def body():\n"
        "    atexit.register(lambda: open(%r, 'w').write('yes'))\n"
        "    sys.stdout.write('buffered output')\n"
        "    return 3\n"
        "exits.run_main(body, quick_exit=True)\n" % str(mark)
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert (proc.returncode, proc.stdout, mark.read_text()) == (3, "buffered output", "yes")
