"""Scalars and compare against real guildai 0.9.0, both ways, in one shared Guild home.

Runs made by each tool (output scalars, a guild.yml ``compare:`` list, marks
and labels) are compared by both: ``guild compare --csv -`` prints the same
bytes, ``runs info`` the same ``scalars:`` section, and ``select --min/--max``
picks the same run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from pipelines_fixtures import guild, guild_env

RESULTS = os.path.join(os.path.dirname(__file__), "samples", "projects", "results")


def _guildai(exe: str, home, *args: str, cwd: str) -> subprocess.CompletedProcess:
    env = guild_env(str(home), NO_IMPORT_FLAGS_PROGRESS="1", NO_PIP_FREEZE="1", NO_VCS_COMMIT="1")
    env.pop("SYNC_RUN_OUTPUT", None)
    return subprocess.run([exe, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def _scalars_section(text: str) -> list[str]:
    lines = text.splitlines()
    return lines[lines.index("scalars:") :] if "scalars:" in lines else []


def test_compare_select_and_info_agree_both_ways(tmp_path, guildai):
    home = tmp_path / "home"
    home.mkdir()
    proj = str(tmp_path / "proj")
    shutil.copytree(RESULTS, proj)
    for args in (["train", "x=2"], ["scored", "x=0.5"], ["custom"]):
        r = _guildai(guildai, home, "run", *args, "-y", cwd=proj)
        assert r.returncode == 0, r.stderr
    for args in (["train", "x=0.25"], ["scored", "x=3"], ["mapped"], ["nocapture"]):
        r = guild(home, "run", *args, "-y", cwd=proj)
        assert r.rc == 0, r.out
    assert guild(home, "runs", "label", "2", "-s", "relabelled", "-y", cwd=proj).rc == 0
    assert _guildai(guildai, home, "runs", "mark", "3", "-y", cwd=proj).returncode == 0

    for args in (
        ["compare", "--csv", "-"],
        ["compare", "-t"],
        ["compare", "-t", "-s", "--min", "loss"],
        ["compare", "--csv", "-", "-cc", "=x,min loss as lo,max loss step,count acc,.label,.marked"],
        ["compare", "--csv", "-", "-Fo", "scored", "--max", "best", "--top", "1"],
        ["compare", "--print-scalars"],
        ["api", "compare", "-Fo", "train"],
        ["select", "--min", "loss", "-Fo", "train", "-Fo", "scored"],
        ["select", "--max", "max acc", "-Fo", "train"],
        ["select", "--max", "=x"],
    ):
        theirs = _guildai(guildai, home, *args, cwd=proj)
        ours = subprocess.run(
            [sys.executable, "-m", "luigi_guild", *args],
            cwd=proj, env=guild_env(str(home)), capture_output=True, text=True, timeout=120,
        )
        assert theirs.returncode == 0, (args, theirs.stderr)
        assert (ours.returncode, ours.stdout) == (0, theirs.stdout), args

    listed = _guildai(guildai, home, "select", "-A", cwd=proj).stdout.split()
    assert len(listed) == 7
    for run_id in listed:
        theirs = _guildai(guildai, home, "runs", "info", run_id, cwd=proj).stdout
        ours = guild(home, "runs", "info", run_id, cwd=proj).out
        assert _scalars_section(ours) == _scalars_section(theirs), run_id


def test_kept_batch_runs_capture_their_own_scalars_as_guildai_does(tmp_path, guildai):
    """A batch's own event file (from its output): each tool reads the other's batch as its own."""
    home = tmp_path / "home"
    home.mkdir()
    proj = str(tmp_path / "proj")
    shutil.copytree(RESULTS, proj)
    r = _guildai(guildai, home, "run", "train", "x=[7,8]", "--keep-batch", "-y", cwd=proj)
    assert r.returncode == 0, r.stderr
    r2 = guild(home, "run", "train", "x=[3,4]", "--keep-batch", "-y", cwd=proj)
    assert r2.rc == 0, r2.out
    cols = "loss,loss step,count loss as n,first loss as first,x,acc"
    for args in (
        ["compare", "--csv", "-", "--include-batch", "-s", "-Fo", "train+"],
        ["compare", "--csv", "-", "--include-batch", "-cc", cols],
    ):
        theirs = _guildai(guildai, home, *args, cwd=proj)
        ours = subprocess.run(
            [sys.executable, "-m", "luigi_guild", *args],
            cwd=proj, env=guild_env(str(home)), capture_output=True, text=True, timeout=120,
        )
        assert theirs.returncode == 0, (args, theirs.stderr)
        assert (ours.returncode, ours.stdout) == (0, theirs.stdout), args
    batches = _guildai(guildai, home, "select", "-A", "-Fo", "train+", cwd=proj).stdout.split()
    assert len(batches) == 2
    for run_id in batches:
        theirs = _scalars_section(_guildai(guildai, home, "runs", "info", run_id, cwd=proj).stdout)
        assert "  loss: " + ("2.666667" if run_id != batches[0] else "1.333333") + " (step 2)" in theirs
        assert _scalars_section(guild(home, "runs", "info", run_id, cwd=proj).out) == theirs, run_id
