"""Two-step guild.yml pipeline (prepare -> train): CLI rules and luigi.build."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from pipelines_fixtures import guild, guild_env, project, runs

PIPELINE = project("pipeline")


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
    assert (r.rc, r.out) == (0, "trained on 3 samples: lr=0.5 epochs=2 loss=0.750\n")
    train, prep3 = runs(home)[0], runs(home)[1]
    assert train.op_name == "train" and train.label == "lr=0.5 epochs=2"
    assert os.readlink(os.path.join(train.path, "data.txt")) == os.path.join(prep3.path, "data.txt")
    assert not os.path.exists(os.path.join(train.path, "notes.txt"))  # not selected
    assert train.get("deps") == {"prepare": {"run": prep3.id, "paths": ["data.txt"]}}


def test_cli_build_deps_runs_missing_upstream_once(tmp_path):
    home = tmp_path / "home"
    r = guild(home, "run", "train", "epochs=3", "--build-deps", "-y", cwd=PIPELINE)
    assert r.rc == 0, r.out
    assert r.out == "prepared 4 samples\ntrained on 4 samples: lr=0.1 epochs=3 loss=0.200\n"
    r = guild(home, "run", "train", "--build-deps", "-y", cwd=PIPELINE)
    assert r.out == "trained on 4 samples: lr=0.1 epochs=2 loss=0.300\n"
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
