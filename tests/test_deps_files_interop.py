"""File dependencies (``requires: - file: PATH``) against real guildai 0.9.0.

The same project is run by guildai and by us into two Guild homes at the
same depth: the run directories, ``.guild/manifest`` and the ``deps`` attr
must come out the same, and each tool's ``--needed`` matches the other's run.
"""

from __future__ import annotations

import os
import subprocess

from pipelines_fixtures import guild, guild_env, runs

GUILD_YML = """
train:
  main: show
  requires:
    - file: config.json
    - file: data
      select: .*\\.txt
      target-path: inputs
    - file: data/b.csv
      target-type: link
      name: table
    - file: data/a.txt
      rename: a.txt first.txt
    - file: data
      target-path: whole
"""


def _project(root) -> str:
    proj = os.path.join(str(root), "proj")
    os.makedirs(os.path.join(proj, "data", "sub"))
    files = {
        "data/a.txt": "alpha\n",
        "data/b.csv": "x,y\n",
        "data/sub/c.txt": "gamma\n",
        "config.json": "{}\n",
        "show.py": "print('ok')\n",
        "guild.yml": GUILD_YML,
    }
    for rel, text in files.items():
        with open(os.path.join(proj, rel), "w") as f:
            f.write(text)
    return proj


def _prepare_then_train(proj: str, tmp_path, guildai: str) -> tuple[dict[str, str], list, list]:
    """``prepare`` then ``train`` run by guildai and by us, each into its own home: what each said
    (``said["train"]`` guildai's, ``said["ours train"]`` ours) and each home's runs, newest first."""
    theirs_home, ours_home = tmp_path / "h1", tmp_path / "h2"
    theirs_home.mkdir()
    env = guild_env(str(theirs_home), NO_IMPORT_FLAGS_PROGRESS="1")
    said = {}
    for op in ("prepare", "train"):
        r = subprocess.run([guildai, "run", op, "-y"], cwd=proj, env=env, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        said[op] = r.stderr
        ours = guild(str(ours_home), "run", op, "-y", cwd=proj)
        assert ours.rc == 0, ours.out
        said["ours " + op] = ours.out
    return said, runs(theirs_home), runs(ours_home)


def _tree(run_dir: str) -> list[tuple[str, str]]:
    found = []
    for root, dirs, names in os.walk(run_dir):
        dirs[:] = [d for d in dirs if d != ".guild"]
        for name in dirs + names:
            path = os.path.join(root, name)
            kind = "link:" + os.readlink(path) if os.path.islink(path) else "dir" if os.path.isdir(path) else "file"
            found.append((os.path.relpath(path, run_dir), kind))
    return sorted(found)


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def test_file_deps_match_guildai(tmp_path, guildai):
    proj = _project(tmp_path)
    theirs_home, ours_home = tmp_path / "h1", tmp_path / "h2"
    theirs_home.mkdir()
    r = subprocess.run(
        [guildai, "run", "train", "-y"], cwd=proj, env=guild_env(str(theirs_home), NO_IMPORT_FLAGS_PROGRESS="1"),
        capture_output=True, text=True, timeout=120,
    )
    assert r.returncode == 0, r.stderr
    said = [line for line in r.stderr.splitlines() if line.startswith(("Resolving ", "Skipping "))]
    ours = guild(str(ours_home), "run", "train", "-y", cwd=proj)
    assert ours.rc == 0, ours.out
    assert [line for line in ours.out.splitlines() if line.startswith(("Resolving ", "Skipping "))] == said
    [theirs_run], [our_run] = runs(theirs_home), runs(ours_home)
    assert _tree(our_run.path) == _tree(theirs_run.path)
    for rel in (".guild/manifest", ".guild/attrs/deps", ".guild/attrs/sourcecode_digest"):
        assert _read(os.path.join(our_run.path, rel)) == _read(os.path.join(theirs_run.path, rel)), rel
    # Each tool's --needed matches the other's run (same flags, same source code).
    r = guild(str(theirs_home), "run", "train", "--needed", "-y", cwd=proj)
    assert r.rc == 0 and theirs_run.short_id in r.out, r.out


def test_missing_file_fails_without_a_run(tmp_path, guildai):
    proj = _project(tmp_path)
    with open(os.path.join(proj, "guild.yml"), "w") as f:
        f.write("train:\n  main: show\n  requires:\n    - file: nowhere.txt\n")
    theirs_home, ours_home = tmp_path / "h1", tmp_path / "h2"
    theirs_home.mkdir()
    r = subprocess.run(
        [guildai, "run", "train", "-y"], cwd=proj, env=guild_env(str(theirs_home), NO_IMPORT_FLAGS_PROGRESS="1"),
        capture_output=True, text=True, timeout=120,
    )
    ours = guild(str(ours_home), "run", "train", "-y", cwd=proj)
    assert ours.rc == r.returncode == 1
    assert ours.out.splitlines()[-1] == r.stderr.splitlines()[-1]
    assert [run.status for run in runs(theirs_home)] == ["error"]  # guildai leaves a failed run
    assert runs(ours_home) == []  # we make none


def test_dep_option_matches_guildai(tmp_path, guildai):
    proj = _project(tmp_path)
    theirs_home, ours_home = tmp_path / "h1", tmp_path / "h2"
    theirs_home.mkdir()
    args = ["run", "show.py", "-D", "data/b.csv", "-D", "config.json", "-y"]
    r = subprocess.run(
        [guildai, *args], cwd=proj, env=guild_env(str(theirs_home), NO_IMPORT_FLAGS_PROGRESS="1"),
        capture_output=True, text=True, timeout=120,
    )
    assert r.returncode == 0, r.stderr
    ours = guild(str(ours_home), *args, cwd=proj)
    assert ours.rc == 0, ours.out
    [theirs_run], [our_run] = runs(theirs_home), runs(ours_home)
    assert _tree(our_run.path) == _tree(theirs_run.path)
    for rel in (".guild/manifest", ".guild/attrs/deps"):
        assert _read(os.path.join(our_run.path, rel)) == _read(os.path.join(theirs_run.path, rel)), rel


MIXED_YML = """
prepare:
  main: prep
  sourcecode: [prep.py]
train:
  main: show
  sourcecode: [show.py]
  requires:
    - file: config.json
    - operation: prepare
    - file: data/a.txt
      name: alpha
    - file: out.txt
"""


def test_mixed_requires_resolve_in_declared_order_as_guildai_does(tmp_path, guildai):
    """Operation and file entries in one ``requires`` list: same messages, manifest and deps attr."""
    proj = _project(tmp_path)
    with open(os.path.join(proj, "guild.yml"), "w") as f:
        f.write(MIXED_YML)
    with open(os.path.join(proj, "prep.py"), "w") as f:
        f.write("open('out.txt', 'w').write('prepared')\n")
    with open(os.path.join(proj, "out.txt"), "w") as f:  # taken by prepare's out.txt, declared before it
        f.write("project\n")
    said, (theirs_train, theirs_prep), (our_train, our_prep) = _prepare_then_train(proj, tmp_path, guildai)

    def messages(text: str, prep_id: str, train_dir: str) -> list[str]:
        return [
            line.replace(prep_id, "PREP").replace(train_dir, "TRAIN")
            for line in text.splitlines()
            if line.startswith(("Resolving ", "Using ", "WARNING: "))
        ]

    theirs = messages(said["train"], theirs_prep.id, theirs_train.path)
    assert theirs == [
        "Resolving file:config.json",
        "Resolving operation:prepare",
        "Using run PREP for operation:prepare",
        "Resolving alpha",
        "Resolving file:out.txt",
        "WARNING: TRAIN/out.txt already exists, skipping copy",
    ]
    assert messages(said["ours train"], our_prep.id, our_train.path) == theirs
    assert _read(os.path.join(our_train.path, ".guild/manifest")) == _read(
        os.path.join(theirs_train.path, ".guild/manifest")
    )
    ours_deps = _read(os.path.join(our_train.path, ".guild/attrs/deps")).replace(our_prep.id, "PREP")
    theirs_deps = _read(os.path.join(theirs_train.path, ".guild/attrs/deps")).replace(theirs_prep.id, "PREP")
    assert ours_deps == theirs_deps


OPDEPS_YML = """
prepare:
  main: prep
  sourcecode: [prep.py]
other:
  main: prep
  sourcecode: [prep.py]
train:
  main: show
  sourcecode: [show.py]
  requires:
    - operation: prepare
    - operation: prepare
      name: linked
      select: data.txt
      target-type: link
      target-path: inputs
      rename: data.txt samples.txt
    - operation: prepare
      name: deep
      select: out/deep/.*\\.bin
      target-path: deep
    - operation: prepare
      name: none
      select: absent.txt
    - operation: other
      optional: yes
"""

PREP_PY = """
import os
os.makedirs("out/deep", exist_ok=True)
open("data.txt", "w").write("1 2 3")
open("out/deep/model.bin", "w").write("weights")
"""


def test_operation_deps_placed_as_guildai_places_them(tmp_path, guildai):
    """Copies by default, a relative link with ``target-type: link``, ``target-path``, ``rename``, nested
    ``select``, the empty-selection warning and a skipped ``optional`` entry: the same run tree, messages,
    manifest and ``deps`` attr from both tools."""
    proj = _project(tmp_path)
    with open(os.path.join(proj, "guild.yml"), "w") as f:
        f.write(OPDEPS_YML)
    with open(os.path.join(proj, "prep.py"), "w") as f:
        f.write(PREP_PY)
    said, (theirs_train, theirs_prep), (our_train, our_prep) = _prepare_then_train(proj, tmp_path, guildai)

    def messages(text: str, prep_id: str) -> list[str]:
        return [
            line.replace(prep_id, "PREP")
            for line in text.splitlines()
            if line.startswith(("Resolving ", "Using ", "WARNING: ", "Could not "))
        ]

    theirs = messages(said["train"], theirs_prep.id)
    assert "WARNING: nothing resolved for none" in theirs
    assert "Could not resolve operation:other - skipping because dependency is optional" in theirs
    assert messages(said["ours train"], our_prep.id) == theirs

    def tree(run) -> list[tuple[str, str]]:
        return [(rel, kind.replace(run_prep.id, "PREP")) for rel, kind in _tree(run.path)]

    run_prep = theirs_prep
    theirs_tree = tree(theirs_train)
    run_prep = our_prep
    assert tree(our_train) == theirs_tree
    assert ("inputs/samples.txt", "link:../../PREP/data.txt") in theirs_tree
    assert ("out/deep/model.bin", "file") in theirs_tree and ("deep/model.bin", "file") in theirs_tree
    for rel in (".guild/manifest", ".guild/attrs/deps", ".guild/attrs/flags"):
        ours_text = _read(os.path.join(our_train.path, rel)).replace(our_prep.id, "PREP")
        theirs_text = _read(os.path.join(theirs_train.path, rel)).replace(theirs_prep.id, "PREP")
        assert ours_text == theirs_text, rel
