"""A catalogue of bad inputs: one clear ``guild: ...`` line, a non-zero exit, no traceback, no run changed.

Listing commands (``guild runs``, ``guild select`` of a field) are the
exception by design: given runs with corrupt files they still list, exit 0
and show what can be read (status ``error`` for an unreadable exit status or
LOCK, ``?`` for an unreadable opref), so one broken run never hides the others.

``DEFERRED`` holds cases for commands built on other branches; each is
skipped while its command (or option) is missing, so the integrator only has
to merge for them to run.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from dataclasses import dataclass

import pytest

from reliability_fixtures import PROJECT, guild, snapshot


@dataclass
class Case:
    name: str
    args: list[str]
    first: str  # exact first stderr line, or a regex when it starts with "re:"
    home: str = "full"  # "full": the catalogue's runs; "empty": no runs
    cwd: str = "project"  # "project", "empty", "guildyml", "badyml"
    listing: bool = False  # a listing command: exit 0 and prints ``first`` as stdout's first line
    needs: tuple = ()  # (command words..., [option]) that must exist, else skip
    needs_module: str | None = None

    def __str__(self) -> str:
        return self.name


def C(name, args, first, **kw) -> Case:
    return Case(name, args, first, **kw)


NOT_FOUND = "guild: could not find a run matching '%s'"

CASES = [
    # --- operations
    C("unknown-script", ["run", "nosuch.py", "-y"], "guild: cannot find operation nosuch.py"),
    C("unknown-op", ["run", "train", "-y"], "guild: cannot find operation train"),
    C("no-default-op", ["run", "-y"], "guild: cannot find a default operation", cwd="empty"),
    C("syntax-error", ["run", "bad_syntax.py", "-y"], "guild: cannot read flags from bad_syntax.py: syntax error on line 2"),
    C(
        "argparse-fails-early",
        ["run", "no_args.py", "-y"],
        "guild: cannot read flags from no_args.py: the script failed before parsing its arguments",
    ),
    # --- flag syntax and values
    C("flag-without-equals", ["run", "hello.py", "x", "-y"], "guild: invalid argument 'x' - expected NAME=VAL"),
    C("flag-without-name", ["run", "hello.py", "=1", "-y"], "guild: invalid argument '=1' - expected NAME=VAL"),
    C("unknown-flag", ["run", "hello.py", "nope=1", "-y"], "guild: unsupported flag 'nope'"),
    C("unknown-flag-argparse", ["run", "choose.py", "nope=1", "-y"], "guild: unsupported flag 'nope'"),
    C("unknown-flag-needed", ["run", "hello.py", "nope=1", "--needed", "-y"], "guild: unsupported flag 'nope'"),
    C("number-garbage", ["run", "hello.py", "x=abc", "-y"], "guild: invalid value abc for x: expected a number"),
    C("boolean-garbage", ["run", "hello.py", "b=maybe", "-y"], "guild: invalid value maybe for b: expected a boolean"),
    C("int-garbage", ["run", "choose.py", "n=abc", "-y"], "guild: invalid value abc for n: expected an integer"),
    C("int-fraction", ["run", "choose.py", "n=1.5", "-y"], "guild: invalid value 1.5 for n: expected an integer"),
    C("float-garbage", ["run", "choose.py", "rate=fast", "-y"], "guild: invalid value fast for rate: expected a number"),
    C("choice", ["run", "choose.py", "color=blue", "-y"], "guild: invalid value blue for color: allowed values are red, green"),
    C(
        "choice-in-list",
        ["run", "choose.py", "color=[red, blue]", "-y"],
        "guild: invalid value blue for color: allowed values are red, green",
    ),
    C("list-item-garbage", ["run", "hello.py", "y=[1, x]", "-y"], "guild: invalid value x for y: expected a number"),
    C("unclosed-list", ["run", "hello.py", "y=[1,2", "-y"], "guild: invalid value [1,2 for y: expected a number"),
    C("unknown-option", ["run", "hello.py", "--xyzzy", "-y"], "guild: No such option '--xyzzy'."),
    # --- run ids
    C("run-id-dotdot", ["run", "hello.py", "--run-id", "../x", "-y"], "re:^guild: invalid run ID '\\.\\./x': "),
    C("run-id-slash", ["run", "hello.py", "--run-id", "a/b", "-y"], "re:^guild: invalid run ID 'a/b': "),
    C("run-id-empty", ["run", "hello.py", "--run-id", "", "-y"], "re:^guild: invalid run ID '': "),
    C("run-id-hidden", ["run", "hello.py", "--run-id", ".tmp-x", "-y"], "re:^guild: invalid run ID '\\.tmp-x': "),
    C("run-id-exists", ["run", "hello.py", "--run-id", "aaa", "-y"], "guild: a run with ID 'aaa' already exists"),
    # --- restarts
    C("restart-unknown", ["run", "--restart", "zzz", "-y"], NOT_FOUND % "zzz"),
    C("restart-ambiguous", ["run", "--restart", "aa", "-y"], "guild: 'aa' matches multiple runs:"),
    C("restart-running", ["run", "--restart", "rrr", "-y"], "guild: cannot restart run rrr because it's running"),
    C("restart-running-needed", ["run", "--start", "rrr", "--needed", "-y"], "guild: cannot restart run rrr because it's running"),
    C("restart-with-op", ["run", "hello.py", "--restart", "aaa", "-y"], "guild: OPERATION cannot be used with --restart"),
    C("restart-unknown-flag", ["run", "--restart", "aaa", "nope=1", "-y"], "guild: unsupported flag 'nope'"),
    C("restart-bad-value", ["run", "--restart", "aaa", "x=abc", "-y"], "guild: invalid value abc for x: expected a number"),
    C("restart-path-escape", ["run", "--restart", "../aaa", "-y"], NOT_FOUND % "../aaa"),
    C("restart-hidden-dir", ["run", "--restart", ".tmp-half", "-y"], NOT_FOUND % ".tmp-half"),
    C(
        "restart-flags-not-mapping",
        ["run", "--restart", "badflags", "-y"],
        "guild: cannot restart run badflags: its 'flags' attribute is not a mapping",
    ),
    C("restart-opref-garbage", ["run", "--restart", "badopref", "-y"], "guild: cannot restart run badopref: its opref is invalid"),
    C(
        "restart-op-garbage",
        ["run", "--restart", "badop", "-y"],
        "guild: cannot restart run badop: its 'op' attribute is missing or invalid",
    ),
    # --- guild home
    C("unknown-command", ["nosuch"], "guild: No such command 'nosuch'."),
    # --- select
    C("select-unknown", ["select", "zzz"], NOT_FOUND % "zzz"),
    C("select-ambiguous", ["select", "aa"], "guild: 'aa' matches multiple runs:"),
    C("select-index-out-of-range", ["select", "99"], NOT_FOUND % "99"),
    C("select-bad-slice", ["select", "3:x"], NOT_FOUND % "3:x"),
    C("select-path-escape", ["select", "../aaa"], NOT_FOUND % "../aaa"),
    C("select-hidden-dir", ["select", ".tmp-half"], NOT_FOUND % ".tmp-half"),
    C("select-missing-attr", ["select", "aaa", "-a", "nosuch"], "guild: no such run attribute 'nosuch'"),
    C("select-no-runs", ["select"], "guild: no matching runs", home="empty"),
    # --- empty slices (issue 18): one line, not an IndexError
    C("select-empty-slice", ["select", ":0"], NOT_FOUND % ":0"),
    C("select-reversed-slice", ["select", "5:3"], NOT_FOUND % "5:3"),
    C("runs-info-empty-slice", ["runs", "info", ":0"], NOT_FOUND % ":0"),
    C("cat-empty-slice", ["cat", "--output", ":0"], NOT_FOUND % ":0"),
    C("ls-empty-slice", ["ls", ":0"], NOT_FOUND % ":0"),
    C("watch-empty-slice", ["watch", ":0"], NOT_FOUND % ":0"),
    C("run-id-newline", ["run", "hello.py", "--run-id", "x\n", "-y"], "re:^guild: invalid run ID 'x\\\\n': "),
    C("select-unknown-option", ["select", "--bogus"], "guild: No such option '--bogus'."),
    # --- results: compare, select --min/--max, output scalars
    C("compare-unknown-sort-column", ["compare", "--csv", "-", "--min", "nosuch"], "re:^guild: unknown column 'nosuch' "),
    C(
        "compare-malformed-strict-cols",
        ["compare", "-t", "-cc", "min =x"],
        "guild: invalid column spec 'min =x': unexpected token 'min', line 1, pos 7",
    ),
    C("compare-table-and-csv", ["compare", "-t", "--csv", "-"], "guild: --table and --csv cannot both be specified"),
    C("select-min-several-cols", ["select", "--min", "a,b"], "guild: invalid col spec 'a,b': multiple cols not supported"),
    C("select-min-parse-error", ["select", "--max", "foo bar"], "guild: invalid col spec 'foo bar': unexpected token 'bar', line 1, pos 11"),
    C("test-output-scalars-missing-file", ["run", "hello.py", "--test-output-scalars", "nosuch.txt"], "guild: nosuch.txt does not exist"),
    C("compare-lists-corrupt-runs", ["compare", "--csv", "-", "-r", "-p"], "run", listing=True),
    # --- runs
    C("runs-limit-garbage", ["runs", "--limit", "abc"], "guild: Invalid value for '-n' / '--limit': 'abc' is not a valid integer."),
    C("runs-unknown-subcommand", ["runs", "nosub"], "guild: No such command 'nosub'."),
    # --- listing commands over corrupt runs: they list, exit 0
    C("runs-lists-corrupt-runs", ["runs", "-a"], "re:^\\[1:\\w+\\]  ", listing=True),
    C("select-all-lists-corrupt-runs", ["select", "-A"], "re:^\\w+$", listing=True),
    C("exit-status-garbage-reads-error", ["select", "badexit", "-a", "status"], "error", listing=True),
    C("lock-garbage-reads-error", ["select", "badlock", "-a", "status"], "error", listing=True),
    C("opref-garbage-shows-unknown-op", ["select", "badopref", "-a", "operation"], "?", listing=True),
    C("flags-not-mapping-shows-raw", ["select", "badflags", "-a", "flags"], "- 1", listing=True),
]

# Commands being built on other branches. Each case is skipped until
# `guild <needs...> --help` works (and lists the option named last, if any).
DEFERRED = [
    C("ls-absolute-path", ["ls", "aaa", "-p", "/etc"], "guild: PATH must be relative", needs=("ls",)),
    C("ls-path-escape", ["ls", "aaa", "-p", "../aab"], "guild: '../aab' is outside the run directory", needs=("ls",)),
    C("ls-unknown-run", ["ls", "zzz"], NOT_FOUND % "zzz", needs=("ls",)),
    C("cat-no-path", ["cat", "aaa"], "guild: -p / --path is required unless --output is specified", needs=("cat",)),
    C("cat-missing-file", ["cat", "aaa", "-p", "nosuch.txt"], "re:^guild: /.*/runs/aaa/nosuch\\.txt does not exist$", needs=("cat",)),
    C("cat-path-escape", ["cat", "aaa", "-p", "../aab/hello.py"], "guild: '../aab/hello.py' is outside the run directory", needs=("cat",)),
    C("cat-absolute-path", ["cat", "aaa", "-p", "/etc/passwd"], "guild: PATH must be relative", needs=("cat",)),
    C("cat-unknown-run", ["cat", "zzz", "-p", "hello.py"], NOT_FOUND % "zzz", needs=("cat",)),
    C("stop-unknown-run", ["stop", "zzz", "-y"], NOT_FOUND % "zzz", needs=("stop",)),
    C("watch-nothing", ["watch"], "guild: nothing to watch", home="empty", needs=("watch",)),
    C("watch-unknown-run", ["watch", "zzz"], NOT_FOUND % "zzz", needs=("watch",)),
    C("runs-rm-unknown-run", ["runs", "rm", "zzz", "-y"], NOT_FOUND % "zzz", needs=("runs", "rm")),
    C("runs-restore-unknown-run", ["runs", "restore", "zzz", "-y"], NOT_FOUND % "zzz", needs=("runs", "restore")),
    C("runs-bad-status-char", ["runs", "-Sx"], "guild: unrecognized status char 'x' in option '-S'", needs=("runs", "-S")),
    C("label-unknown-run", ["label", "zzz", "--set", "x", "-y"], NOT_FOUND % "zzz", needs=("label",)),
    C("guildyml-malformed", ["run", "train", "-y"], "re:^guild: ", cwd="badyml", needs_module="luigi_guild.project.guildfile"),
    C("guildyml-unknown-op", ["run", "nosuch", "-y"], "guild: cannot find operation nosuch", cwd="guildyml", needs_module="luigi_guild.project.guildfile"),
    C(
        "guildyml-unknown-flag",
        ["run", "train", "nope=1", "-y"],
        "guild: unsupported flag 'nope'",
        cwd="guildyml",
        needs_module="luigi_guild.project.guildfile",
    ),
    C("remote-undefined-runs", ["runs", "-r", "nosuch"], "guild: remote nosuch is not defined", needs=("runs", "--remote")),
    C("remote-undefined-run", ["run", "train", "-r", "nosuch", "-y"], "guild: remote nosuch is not defined", cwd="guildyml", needs=("run", "--remote")),
    C("remote-script", ["run", "hello.py", "-r", "nosuch", "-y"], "re:^guild: ", needs=("run", "--remote")),
    C("remote-undefined-pull", ["pull", "nosuch", "-y"], "guild: remote nosuch is not defined", needs=("pull",)),
    C("remote-undefined-stop", ["stop", "-r", "nosuch", "-y"], "guild: remote nosuch is not defined", needs=("stop", "--remote")),
]


# --------------------------------------------------------------- fixtures

GUILD_YML = "train:\n  main: train\n  flags:\n    lr: 0.1\n"
BAD_YML = "train:\n  main: train\n  flags: [lr: 0.1\n"


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """A Guild home with good, running and corrupt runs, made once and copied per case."""
    base = tmp_path_factory.mktemp("catalogue")
    home = str(base / "home")
    os.makedirs(home)
    for run_id, flags in [("aaa", []), ("aab", ["x=2"])]:
        res = guild(["run", "hello.py", "-y", "--run-id", run_id] + flags, home)
        assert res.returncode == 0, res.stderr
    runs = os.path.join(home, "runs")

    def variant(name: str, edit) -> None:
        shutil.copytree(os.path.join(runs, "aaa"), os.path.join(runs, name), symlinks=True)
        g = os.path.join(runs, name, ".guild")
        with open(os.path.join(g, "attrs", "id"), "w") as f:
            f.write(name + "\n")
        edit(g)

    def write(path: str, text: str | bytes) -> None:
        with open(path, "wb") as f:
            f.write(text.encode() if isinstance(text, str) else text)

    def running(g):  # LOCK names this (live) test process, as needed.md does
        os.remove(os.path.join(g, "attrs", "exit_status"))
        write(os.path.join(g, "LOCK"), str(os.getpid()))

    def bad_exit(g):
        write(os.path.join(g, "attrs", "exit_status"), "{[garbage: ::\n")

    def bad_lock(g):
        os.remove(os.path.join(g, "attrs", "exit_status"))
        write(os.path.join(g, "LOCK"), b"\x00\xffnot-a-pid\n")

    variant("rrr", running)
    variant("badexit", bad_exit)
    variant("badlock", bad_lock)
    variant("badflags", lambda g: write(os.path.join(g, "attrs", "flags"), "- 1\n- 2\n"))
    variant("badopref", lambda g: write(os.path.join(g, "opref"), "not an opref 'unclosed"))
    variant("badop", lambda g: write(os.path.join(g, "attrs", "op"), "just a string\n"))
    # A creation dir left by a killed `guild run` (hidden, never a run).
    shutil.copytree(os.path.join(runs, "aaa"), os.path.join(runs, ".tmp-half"))

    empty = base / "empty-project"
    empty.mkdir()
    for name, text in [("guildyml", GUILD_YML), ("badyml", BAD_YML)]:
        d = base / name
        d.mkdir()
        (d / "guild.yml").write_text(text)
        (d / "train.py").write_text("lr = 0.1\nprint('lr', lr)\n")
    return {"home": home, "cwd": {"project": PROJECT, "empty": str(empty), "guildyml": str(base / "guildyml"), "badyml": str(base / "badyml")}}


@functools.lru_cache(maxsize=None)
def _command_available(needs: tuple) -> bool:
    words = [w for w in needs if not w.startswith("-")]
    opts = [w for w in needs if w.startswith("-")]
    res = subprocess.run(
        [__import__("sys").executable, "-m", "luigi_guild"] + words + ["--help"],
        capture_output=True,
        text=True,
        env=dict(os.environ, GUILD_HOME="/nonexistent-guild-home"),
    )
    if res.returncode != 0:
        return False
    return all(re.search(r"(^|[\s,/])%s\b" % re.escape(o), res.stdout) for o in opts)


def _check(case: Case, template, tmp_path) -> None:
    if case.needs and not _command_available(tuple(case.needs)):
        pytest.skip("guild %s is not on this branch yet" % " ".join(case.needs))
    if case.needs_module:
        import importlib.util

        if importlib.util.find_spec(case.needs_module) is None:
            pytest.skip("%s is not on this branch yet" % case.needs_module)
    home = str(tmp_path / "home")
    if case.home == "full":
        shutil.copytree(template["home"], home, symlinks=True)
    else:
        os.makedirs(home)
    before = snapshot(home)
    res = guild(case.args, home, cwd=template["cwd"][case.cwd])
    out, err = res.stdout, res.stderr
    assert "Traceback" not in out + err, out + err
    if case.listing:
        assert res.returncode == 0, err
        first = out.splitlines()[0] if out else ""
    else:
        assert res.returncode != 0, out
        assert out == "", out
        # The template home holds damaged runs: a command that meets them names each on a WARNING line first.
        lines = [line for line in err.splitlines() if not re.match(r"WARNING: run \S+ is damaged: \.guild/", line)]
        first = lines[0] if lines else ""
        assert len([line for line in err.splitlines() if line.startswith("guild:")]) == 1, err
    if case.first.startswith("re:"):
        assert re.search(case.first[3:], first), (first, err)
    else:
        assert first == case.first, err
    assert snapshot(home) == before, "runs changed"


@pytest.mark.parametrize("case", CASES, ids=str)
def test_bad_input(case, template, tmp_path):
    _check(case, template, tmp_path)


@pytest.mark.parametrize("case", DEFERRED, ids=str)
def test_bad_input_other_commands(case, template, tmp_path):
    _check(case, template, tmp_path)


def test_catalogue_is_big_enough():
    errors = [c for c in CASES if not c.listing]
    assert len(errors) >= 30
    assert len({c.name for c in CASES + DEFERRED}) == len(CASES) + len(DEFERRED)
