"""Two-step guild.yml pipeline (prepare -> train): CLI rules and luigi.build."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from pipelines_fixtures import guild, guild_env, project, runs

PIPELINE = project("pipeline")


def _resolved(prepare_id: str) -> str:
    """What Guild says (stderr) when a train run starts with the prepare run ``prepare_id``."""
    return "Resolving operation:prepare\nUsing run %s for operation:prepare\n" % prepare_id


def test_cli_requires_latest_upstream_run(tmp_path):
    home = tmp_path / "home"
    r = guild(home, "run", "train", "-y", cwd=PIPELINE)
    assert r.rc == 1
    assert r.out.splitlines() == [
        "guild: run failed because a dependency was not met: no completed or terminated run of prepare (required by train)",
        "Run 'guild run prepare' first, or use --build-deps to run missing operations as needed.",
    ]
    assert runs(home) == []
    assert guild(home, "run", "prepare", "size=2", "-y", cwd=PIPELINE).out == "prepared 2 samples\n"
    assert guild(home, "run", "prepare", "size=3", "-y", cwd=PIPELINE).rc == 0
    r = guild(home, "run", "lr=0.5", "-y", cwd=PIPELINE)  # train is the default op
    train, prep3 = runs(home)[0], runs(home)[1]
    assert (r.rc, r.out) == (0, _resolved(prep3.id) + "trained on 3 samples: lr=0.5 epochs=2 loss=0.750\n")
    assert train.op_name == "train" and train.label == "lr=0.5 epochs=2"
    # Copied in, as Guild does by default (target-type: copy).
    placed = os.path.join(train.path, "data.txt")
    assert not os.path.islink(placed)
    with open(placed) as got, open(os.path.join(prep3.path, "data.txt")) as want:
        assert got.read() == want.read()
    assert not os.path.exists(os.path.join(train.path, "notes.txt"))  # not selected
    # Guild's deps attr: resource name -> source name -> chosen run, paths relative to the new run.
    assert train.get("deps") == {
        "operation:prepare": {
            "operation:prepare": {"config": prep3.id, "paths": ["../%s/data.txt" % prep3.id], "uri": "operation:prepare"}
        }
    }
    # The chosen upstream run is part of the run's identity: a flag, as Guild records it.
    assert train.flags == {"epochs": 2, "lr": 0.5, "operation:prepare": prep3.id}
    assert train.get("user_flags") == {"lr": 0.5}


def test_upstream_run_is_part_of_identity(tmp_path):
    home = tmp_path / "home"
    assert guild(home, "run", "prepare", "size=2", "-y", cwd=PIPELINE).rc == 0
    prep2 = runs(home)[0]
    r = guild(home, "run", "train", "-y", cwd=PIPELINE)
    assert r.out == _resolved(prep2.id) + "trained on 2 samples: lr=0.1 epochs=2 loss=0.050\n"
    r = guild(home, "run", "train", "--needed", "-y", cwd=PIPELINE)
    assert r.rc == 0 and r.out.startswith("Skipping because the following runs match"), r.out
    # A new prepare run: train would read other data, so --needed runs it again.
    assert guild(home, "run", "prepare", "size=5", "-y", cwd=PIPELINE).rc == 0
    r = guild(home, "run", "train", "--needed", "-y", cwd=PIPELINE)
    prep5, prep2 = [x for x in runs(home) if x.op_name == "prepare"]
    assert r.out == _resolved(prep5.id) + "trained on 5 samples: lr=0.1 epochs=2 loss=0.500\n"
    # Pick the older prepare run by id prefix: matches the first train run, so it is skipped.
    r = guild(home, "run", "train", "operation:prepare=%s" % prep2.id[:6], "--needed", "-y", cwd=PIPELINE)
    assert r.rc == 0 and r.out.startswith("Skipping because"), r.out
    r = guild(home, "run", "train", "operation:prepare=%s" % prep2.id[:6], "epochs=4", "-y", cwd=PIPELINE)
    assert r.out == _resolved(prep2.id) + "trained on 2 samples: lr=0.1 epochs=4 loss=0.025\n"
    newest = runs(home)[0]
    assert newest.flags["operation:prepare"] == prep2.id
    assert newest.get("user_flags") == {"epochs": 4, "operation:prepare": prep2.id[:6]}
    info = guild(home, "runs", "info", cwd=PIPELINE).out
    assert "  operation:prepare: %s\n" % prep2.id in info
    # The flag is never passed to the script.
    assert not any("operation" in a for a in newest.get("cmd"))
    r = guild(home, "run", "train", "operation:prepare=zzz", "-y", cwd=PIPELINE)
    assert r.rc == 1 and r.out.splitlines()[0] == (
        "guild: run failed because a dependency was not met: no completed or terminated run of prepare "
        "with an id starting with 'zzz' (required by train)"
    )
    assert len(runs(home)) == 5


def test_manifest_and_digest(tmp_path):
    import hashlib

    home = tmp_path / "home"
    assert guild(home, "run", "prepare", "-y", cwd=PIPELINE).rc == 0
    assert guild(home, "run", "train", "-y", cwd=PIPELINE).rc == 0
    train, prep = runs(home)
    sources = sorted(os.listdir(PIPELINE))
    lines = open(os.path.join(train.path, ".guild", "manifest")).read().splitlines()
    sha1 = lambda p: hashlib.sha1(open(p, "rb").read()).hexdigest()  # noqa: E731
    assert lines == ["s %s %s %s" % (n, sha1(os.path.join(PIPELINE, n)), n) for n in sources] + [
        "d data.txt %s operation:prepare" % sha1(os.path.join(prep.path, "data.txt"))
    ]
    md5 = hashlib.md5()
    for n in sources:
        md5.update(n.encode() + b"\0" + open(os.path.join(PIPELINE, n), "rb").read() + b"\0")
    assert train.get("sourcecode_digest") == prep.get("sourcecode_digest") == md5.hexdigest()


def test_cli_build_deps_runs_missing_upstream_once(tmp_path):
    home = tmp_path / "home"
    r = guild(home, "run", "train", "epochs=3", "--build-deps", "-y", cwd=PIPELINE)
    assert r.rc == 0, r.out
    prep = runs(home)[-1]
    assert r.out == "prepared 4 samples\n" + _resolved(prep.id) + "trained on 4 samples: lr=0.1 epochs=3 loss=0.200\n"
    r = guild(home, "run", "train", "--build-deps", "-y", cwd=PIPELINE)
    assert r.out == _resolved(prep.id) + "trained on 4 samples: lr=0.1 epochs=2 loss=0.300\n"
    assert [x.op_name for x in runs(home)] == ["train", "train", "prepare"]


def test_luigi_build_whole_pipeline(tmp_path):
    home = tmp_path / "home"
    script = tmp_path / "build.py"
    script.write_text(
        textwrap.dedent(
            """
            import sys
            import luigi
            from luigi_guild.tasks import OperationTask

            tasks = [OperationTask.of("train", {"lr": lr}, project_dir=sys.argv[1]) for lr in (0.1, 0.2)]
            ok = luigi.build(tasks, local_scheduler=True, log_level="ERROR")
            print("ok" if ok else "failed")
            """
        )
    )
    cmd = [sys.executable, str(script), PIPELINE]
    out = subprocess.run(cmd, env=guild_env(home), capture_output=True, text=True, timeout=120).stdout
    assert out.count("prepared 4 samples") == 1
    assert "trained on 4 samples: lr=0.1 epochs=2" in out and "lr=0.2" in out
    assert out.strip().endswith("ok")
    assert sorted(r.op_name for r in runs(home)) == ["prepare", "train", "train"]
    out = subprocess.run(cmd, env=guild_env(home), capture_output=True, text=True, timeout=120).stdout
    assert out.strip() == "ok"  # everything is complete: nothing runs again
    assert len(runs(home)) == 3


NAMED_DEPS_YML = """\
prepare:
  main: prepare
  flags:
    size: 3
named:
  main: use
  requires:
    - operation: prepare
      name: data
flagged:
  main: use
  requires:
    - operation: prepare
      flag-name: prep
"""


def test_named_requirements_resolve_and_record_as_guild_does(tmp_path):
    """``name:`` or else ``flag-name:`` is the requirement's resolving name: in the lines and in the deps attr."""
    from helpers import write_project

    home = tmp_path / "home"
    proj = write_project(str(tmp_path / "named"), {
        "guild.yml": NAMED_DEPS_YML,
        "prepare.py": "size = 3\nopen('data.txt', 'w').write(str(size))\n",
        "use.py": "print('size', open('data.txt').read())\n",
    })
    assert guild(home, "run", "prepare", "-y", cwd=proj).rc == 0
    prep = runs(home)[0]
    for op, name in (("named", "data"), ("flagged", "prep")):
        r = guild(home, "run", op, "-y", cwd=proj)
        assert (r.rc, r.out) == (0, "Resolving %s\nUsing run %s for %s\nsize 3\n" % (name, prep.id, name))
        run = runs(home)[0]
        assert run.flags == {name: prep.id}
        # As guildai 0.9.0 writes it (tests/test_pipelines_interop.py compares the two).
        assert run.get("deps") == {
            name: {name: {"config": prep.id, "paths": ["../%s/data.txt" % prep.id], "uri": "operation:prepare"}}
        }
        r = guild(home, "run", "--restart", run.id, "-y", cwd=proj)
        assert r.out == "Resolving %s\nSkipping resolution of %s because it's already resolved\nsize 3\n" % (name, name)
