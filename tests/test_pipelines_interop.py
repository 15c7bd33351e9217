"""Upstream runs in a run's identity, against real guildai 0.9.0 sharing one Guild home.

Both tools record the chosen upstream run as the flag ``operation:prepare``
and write the same ``.guild/manifest`` and ``sourcecode_digest``, so each
one's ``--needed`` matches the other's runs and guildai resolves a
dependency on a run of ours.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from pipelines_fixtures import guild, guild_env, project, runs


def _project(tmp_path) -> str:
    dest = str(tmp_path / "proj")
    shutil.copytree(project("pipeline"), dest)
    return dest


def _guildai(exe: str, home, *args: str, cwd: str) -> subprocess.CompletedProcess:
    env = guild_env(str(home), NO_IMPORT_FLAGS_PROGRESS="1")
    return subprocess.run([exe, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def test_our_needed_matches_guildai_dependency_runs(tmp_path, guildai):
    home, proj = tmp_path / "home", _project(tmp_path)
    home.mkdir()
    assert _guildai(guildai, home, "run", "prepare", "size=3", "-y", cwd=proj).returncode == 0
    r = _guildai(guildai, home, "run", "train", "-y", cwd=proj)
    assert r.returncode == 0, r.stderr
    theirs, prep3 = runs(home)
    said = [line for line in r.stderr.splitlines() if line.startswith(("Resolving ", "Using run "))]
    assert said == ["Resolving operation:prepare", "Using run %s for operation:prepare" % prep3.id]
    r = guild(home, "run", "train", "--needed", "-y", cwd=proj)
    assert r.rc == 0 and r.out.startswith("Skipping because the following runs match"), r.out
    assert theirs.short_id in r.out
    # After a new prepare run (made by guildai), train would read other data: ours runs it.
    assert _guildai(guildai, home, "run", "prepare", "size=5", "-y", cwd=proj).returncode == 0
    r = guild(home, "run", "train", "--needed", "-y", cwd=proj)
    ours, prep5 = runs(home)[0], runs(home)[1]
    # The same lines guildai says (stderr, merged here) before the run's output.
    said = ["Resolving operation:prepare", "Using run %s for operation:prepare" % prep5.id]
    assert r.out == "\n".join(said) + "\ntrained on 5 samples: lr=0.1 epochs=2 loss=0.500\n"
    assert ours.flags["operation:prepare"] == prep5.id


def test_guildai_needed_and_resolution_on_our_runs(tmp_path, guildai):
    home, proj = tmp_path / "home", _project(tmp_path)
    assert guild(home, "run", "prepare", "size=3", "-y", cwd=proj).rc == 0
    assert guild(home, "run", "train", "-y", cwd=proj).rc == 0
    train, prep = runs(home)
    r = _guildai(guildai, home, "run", "train", "--needed", "-y", cwd=proj)
    assert r.returncode == 0, r.stderr
    assert "Skipping because the following runs match" in r.stdout and train.short_id in r.stdout
    # guildai resolves a dependency on our prepare run (it reads the run's manifest).
    r = _guildai(guildai, home, "run", "train", "epochs=3", "-y", cwd=proj)
    assert r.returncode == 0, r.stderr
    assert "Using run %s for operation:prepare" % prep.id in r.stderr
    assert r.stdout == "trained on 3 samples: lr=0.1 epochs=3 loss=0.100\n"
    theirs = runs(home)[0]
    assert theirs.flags == {"epochs": 3, "lr": 0.1, "operation:prepare": prep.id}


def test_manifest_and_digest_equal_guildai(tmp_path, guildai):
    home, proj = tmp_path / "home", _project(tmp_path)
    with open(os.path.join(proj, "sub.txt"), "w") as f:
        f.write("a file in the project\n")
    os.makedirs(os.path.join(proj, "pkg"))
    with open(os.path.join(proj, "pkg", "util.py"), "w") as f:
        f.write("X = 1\n")
    home.mkdir()
    assert _guildai(guildai, home, "run", "prepare", "-y", cwd=proj).returncode == 0
    assert _guildai(guildai, home, "run", "train", "-y", cwd=proj).returncode == 0
    assert guild(home, "run", "prepare", "-y", cwd=proj).rc == 0
    assert guild(home, "run", "train", "-y", cwd=proj).rc == 0
    ours_train, ours_prep, their_train, their_prep = runs(home)
    for ours, theirs in ((ours_prep, their_prep), (ours_train, their_train)):
        assert ours.get("sourcecode_digest") == theirs.get("sourcecode_digest")
        mine = _read(ours.guild_path("manifest")).replace(ours_prep.id, "PREP")
        their = _read(theirs.guild_path("manifest")).replace(their_prep.id, "PREP")
        assert mine == their
        assert ours.get("deps") == _swap(theirs.get("deps"), their_prep.id, ours_prep.id)
        # The flags attr reads byte for byte as guildai writes it (the upstream run id as a plain flag).
        mine = _read(ours.attr_path("flags")).replace(ours_prep.id, "PREP")
        assert mine == _read(theirs.attr_path("flags")).replace(their_prep.id, "PREP")
    assert "d data.txt" in _read(ours_train.guild_path("manifest"))


def _swap(obj, old: str, new: str):
    if isinstance(obj, dict):
        return {k: _swap(v, old, new) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_swap(v, old, new) for v in obj]
    return obj.replace(old, new) if isinstance(obj, str) else obj


def test_named_requirements_equal_guildai(tmp_path, guildai):
    """``name:`` / ``flag-name:`` requirements: the same deps attr, flags and resolution lines as guildai."""
    from helpers import write_project
    from test_pipelines import NAMED_DEPS_YML

    home = tmp_path / "home"
    home.mkdir()
    proj = write_project(str(tmp_path / "named"), {
        "guild.yml": NAMED_DEPS_YML,
        "prepare.py": "size = 3\nopen('data.txt', 'w').write(str(size))\n",
        "use.py": "print('size', open('data.txt').read())\n",
    })
    assert _guildai(guildai, home, "run", "prepare", "-y", cwd=proj).returncode == 0
    for op in ("named", "flagged"):
        r = _guildai(guildai, home, "run", op, "-y", cwd=proj)
        assert r.returncode == 0, r.stderr
        theirs = runs(home)[0]
        said = [line for line in r.stderr.splitlines() if line.startswith(("Resolving ", "Using run "))]
        r = guild(home, "run", op, "-y", cwd=proj)
        ours = runs(home)[0]
        assert r.out.splitlines()[:2] == said and len(said) == 2
        assert ours.get("deps") == theirs.get("deps")
        assert ours.flags == theirs.flags
