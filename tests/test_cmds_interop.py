"""merge, publish and tensorboard against real guildai 0.9.0 on one Guild home: for runs made by
either tool, both print the same merge preview, publish the same data files, lay out the same
TensorBoard log directory and export the same scalars."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

from pipelines_fixtures import guild_env

RESULTS = os.path.join(os.path.dirname(__file__), "samples", "projects", "results")
# Files whose bytes both tools must agree on (the README pages come from each tool's own templates).
DATA_FILES = ("run.yml", "flags.yml", "scalars.csv", "output.txt", "sourcecode.csv", "runfiles.csv")
# guildai's click warns about its own duplicate -S option on every merge.
_CLICK_NOISE = re.compile(r"^(.*UserWarning: The parameter -S.*|  parser = .*|  self\..*)\n", re.M)


def _env(home: str) -> dict[str, str]:
    env = guild_env(home, NO_IMPORT_FLAGS_PROGRESS="1", NO_PIP_FREEZE="1", NO_VCS_COMMIT="1", TZ="UTC")
    env.pop("SYNC_RUN_OUTPUT", None)
    return env


def _guildai(exe: str, home: str, *args: str, cwd: str, env: dict | None = None) -> subprocess.CompletedProcess:
    full = _env(home)
    full.update(env or {})
    return subprocess.run([exe, *args], cwd=cwd, env=full, capture_output=True, text=True, timeout=120)


def _ours(home: str, *args: str, cwd: str, env: dict | None = None) -> subprocess.CompletedProcess:
    full = _env(home)
    full.update(env or {})
    cmd = [sys.executable, "-m", "luigi_guild", *args]
    return subprocess.run(cmd, cwd=cwd, env=full, capture_output=True, text=True, timeout=120)


def _tree(root: str) -> list[str]:
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            out.append(os.path.relpath(os.path.join(dirpath, name), root))
    return sorted(out)


def test_merge_publish_tensorboard_agree_with_guildai(tmp_path, guildai):
    home = str(tmp_path / "home")
    os.makedirs(home)
    proj = str(tmp_path / "proj")
    shutil.copytree(RESULTS, proj)
    r = _guildai(guildai, home, "run", "train", "x=2", "-y", cwd=proj)
    assert r.returncode == 0, r.stderr
    r = _ours(home, "run", "tb", "-y", cwd=proj)
    assert r.returncode == 0, r.stderr
    with open(os.path.join(proj, "train.py"), "a") as f:
        f.write("# changed since the runs\n")

    # merge --preview: the same report for each run (theirs and ours)
    for spec in ("1", "2"):
        args = ("merge", spec, "--preview", "--all", "--replace")
        theirs = _guildai(guildai, home, *args, cwd=proj)
        ours = _ours(home, *args, cwd=proj)
        assert (ours.returncode, ours.stdout) == (theirs.returncode, theirs.stdout)
        assert ours.stderr == _CLICK_NOISE.sub("", theirs.stderr)
        assert "  train.py\n" in ours.stderr

    # publish: the same data files for every run
    r = _guildai(guildai, home, "publish", "-y", "--all-files", "--dest", str(tmp_path / "theirs"), cwd=proj)
    assert r.returncode == 0, r.stderr
    r = _ours(home, "publish", "-y", "--all-files", "--dest", str(tmp_path / "ours"), cwd=proj)
    assert r.returncode == 0, r.stderr
    assert _tree(str(tmp_path / "ours")) == _tree(str(tmp_path / "theirs"))
    run_ids = [n for n in os.listdir(tmp_path / "ours") if len(n) == 32]
    assert len(run_ids) == 2
    for run_id in run_ids:
        for name in DATA_FILES:
            with open(tmp_path / "theirs" / run_id / name) as a, open(tmp_path / "ours" / run_id / name) as b:
                assert b.read() == a.read(), (run_id, name)

    # tensorboard: the same log directory layout and the same exported scalars
    trees = []
    for which in ("theirs", "ours"):
        # As long for both tools: run names are cut (as guildai cuts them) so a run's path fits 148 characters.
        tmp = str(tmp_path / ("tmp-%s-%s" % (which[0], "x" * 20)))
        os.makedirs(tmp)
        args = ("tensorboard", "--test-logdir")
        r = _guildai(guildai, home, *args, cwd=proj, env={"TMPDIR": tmp}) if which == "theirs" else _ours(
            home, *args, cwd=proj, env={"TMPDIR": tmp}
        )
        assert r.returncode == 0, r.stderr
        (logdir,) = [n for n in os.listdir(tmp) if n.startswith("guild-tensorboard-")]
        trees.append(_tree(os.path.join(tmp, logdir)))
    assert trees[1] == trees[0]
    assert any(p.endswith(".hparams") for p in trees[0]) and any(p.endswith(".time") for p in trees[0])
    theirs_csv = _guildai(guildai, home, "tensorboard", "--export-scalars", "-", cwd=proj).stdout.splitlines()
    ours_csv = _ours(home, "tensorboard", "--export-scalars", "-", cwd=proj).stdout.splitlines()
    assert ours_csv[0] == theirs_csv[0] == "run,path,tag,value,step"
    assert sorted(ours_csv[1:]) == sorted(theirs_csv[1:]) and len(ours_csv) > 5


def test_api_ops_and_help_op_agree_with_guildai(tmp_path, guildai):
    """``guild api ops`` and ``api help-op`` print the same JSON as guildai's (a Click command's
    flags aside: guildai 0.9.0 shows click 8.2's unset-default sentinel for them)."""
    import json

    home = str(tmp_path / "home")
    os.makedirs(home)
    proj = str(tmp_path / "opdefs")
    shutil.copytree(os.path.join(os.path.dirname(RESULTS), "opdefs"), proj)
    with open(os.path.join(proj, "flagged.py"), "w") as f:
        f.write("x = 1.5\nb = True\ns = 'a b'\nn = None\nprint(x, b, s, n)\n")
    for args in (["api", "help-op", "need"], ["api", "help-op", "need", "-f"], ["api", "help-op", "flagged.py"]):
        theirs, ours = _guildai(guildai, home, *args, cwd=proj), _ours(home, *args, cwd=proj)
        assert theirs.returncode == ours.returncode == 0, (args, theirs.stderr, ours.stderr)
        assert ours.stdout == theirs.stdout, args
    theirs, ours = _guildai(guildai, home, "api", "ops", cwd=proj), _ours(home, "api", "ops", cwd=proj)
    assert theirs.returncode == ours.returncode == 0, (theirs.stderr, ours.stderr)
    theirs_ops = [op for op in json.loads(theirs.stdout) if op["name"] != "click-cmd"]
    ours_ops = [op for op in json.loads(ours.stdout) if op["name"] != "click-cmd"]
    assert len(ours_ops) > 5 and ours_ops == theirs_ops


def test_api_runs_agrees_with_guildai(tmp_path, guildai):
    """``guild api runs`` prints the same JSON as guildai's for runs made by either tool, upstream
    links, labels, scalars, filters and deleted runs included."""
    home = str(tmp_path / "home")
    os.makedirs(home)
    proj = str(tmp_path / "results")
    shutil.copytree(RESULTS, proj)
    for by_guildai, args in ((True, ["train", "x=0.25"]), (False, ["train", "x=0.5"]), (True, ["scored", "x=3"]),
                             (False, ["custom"])):
        if by_guildai:
            r = _guildai(guildai, home, "run", *args, "-y", cwd=proj)
        else:
            r = _ours(home, "run", *args, "-y", cwd=proj)
        assert r.returncode == 0, (args, r.stderr)
    assert _ours(home, "runs", "label", "1", "-s", "a label", "-y", cwd=proj).returncode == 0
    assert _ours(home, "runs", "rm", "4", "-y", cwd=proj).returncode == 0
    for args in ([], ["-f"], ["-Fo", "train"], ["1"], ["-Fl", "label"], ["--deleted"]):
        theirs = _guildai(guildai, home, "api", "runs", *args, cwd=proj)
        ours = _ours(home, "api", "runs", *args, cwd=proj)
        assert theirs.returncode == ours.returncode == 0, (args, theirs.stderr, ours.stderr)
        assert ours.stdout == theirs.stdout, args
        assert ours.stdout.count('"shortId"') == (3 if args in ([], ["-f"]) else 1), args  # 4 runs, 1 deleted


def test_api_merge_agrees_with_guildai(tmp_path, guildai):
    """``guild api merge``: the same preview, replacement and copy answers as guildai's."""
    home = str(tmp_path / "home")
    os.makedirs(home)
    proj = str(tmp_path / "results")
    shutil.copytree(RESULTS, proj)
    assert _guildai(guildai, home, "run", "custom", "-y", cwd=proj).returncode == 0
    assert _ours(home, "run", "train", "x=0.5", "-y", cwd=proj).returncode == 0
    with open(os.path.join(proj, "train.py"), "a") as f:
        f.write("# changed\n")
    for args in (["-p"], ["-p", "-f", "2"], ["-p", "-a", "-x", "*.txt"], ["-p", "--skip-sourcecode", "-a"], ["-y"]):
        theirs = _guildai(guildai, home, "api", "merge", *args, cwd=proj)
        ours = _ours(home, "api", "merge", *args, cwd=proj)
        assert theirs.returncode == ours.returncode == 0, (args, theirs.stderr, ours.stderr)
        assert ours.stdout == theirs.stdout, args
    for tool in ("theirs", "ours"):
        target = str(tmp_path / tool)
        os.makedirs(target)
        args = ["api", "merge", "-a", "-y", "--no-summary", "-t", target]
        r = _guildai(guildai, home, *args, cwd=proj) if tool == "theirs" else _ours(home, *args, cwd=proj)
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith('{"resp": "ok", "copied": ["'), r.stdout
        if tool == "theirs":
            copied_by_them = r.stdout
        else:
            assert r.stdout == copied_by_them
            assert sorted(os.listdir(target)) == sorted(os.listdir(str(tmp_path / "theirs")))
