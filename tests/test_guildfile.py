"""guild.yml operations: both shapes, flags, flags-import, exec, requires, errors."""

from __future__ import annotations

import hashlib
import os
import textwrap

import pytest

from luigi_guild.project import guildfile
from luigi_guild.run import plan as launch
from luigi_guild.project import operations
from luigi_guild.model import opdef
from luigi_guild.model.errors import GuildError
from pipelines_fixtures import guild, project


def write(path, text: str) -> str:
    path = str(path)
    with open(path, "w") as f:
        f.write(textwrap.dedent(text))
    return path


@pytest.fixture
def home(tmp_path, monkeypatch):
    h = tmp_path / "home"
    monkeypatch.setenv("GUILD_HOME", str(h))
    return h


def test_mapping_form_opref_flags_and_default(tmp_path, home):
    gf = write(
        tmp_path / "guild.yml",
        """
        prep:
          main: prep --quick
          flags:
            n: 3
        train:
          default: yes
          flags:
            lr:
              default: 0.1
              type: float
              min: 0
              max: 1
            opt:
              default: sgd
              choices: [sgd, adam]
            name:
              arg-name: run-name
              required: yes
          flags-dest: args
          label: lr=${lr}
        """,
    )
    ops = guildfile.list_ops(gf)
    assert [o.name for o in ops] == ["prep", "train"]
    train = guildfile.find_op(gf, None)
    assert train.name == "train"
    digest = hashlib.md5(open(gf, "rb").read()).hexdigest()
    assert train.opref.encode() == "guildfile:%s %s '' train" % (gf, digest)
    assert train.flags["lr"].type == "float" and train.flags["lr"].max == 1
    assert train.flags["opt"].choices == ["sgd", "adam"]
    assert train.flags["name"].required and train.flags["name"].arg_name == "run-name"
    assert train.main == "train" and train.flags_dest == "args"
    prep = guildfile.find_op(gf, "prep")
    assert prep.cmd_template()[3:5] == ["prep", "--quick"]
    with pytest.raises(GuildError, match="allowed values are sgd, adam"):
        launch.plan_new("train", {"opt": "rms", "name": "x"}, cwd=str(tmp_path))
    with pytest.raises(GuildError, match="greater than max"):
        launch.plan_new("train", {"lr": "2", "name": "x"}, cwd=str(tmp_path))
    with pytest.raises(GuildError, match="missing required flag 'name'"):
        launch.plan_new("train", {}, cwd=str(tmp_path))
    plan = launch.plan_new("train", {"name": "a b"}, cwd=str(tmp_path))
    assert plan.label == "lr=0.1"
    assert "--run-name" in plan.cmd() and "a b" in plan.cmd()


def test_models_list_form_and_model_op_spec(tmp_path, home):
    gf = write(
        tmp_path / "guild.yml",
        """
        - model: m1
          operation-defaults:
            flags-dest: globals
          operations:
            fit:
              flags: {x: 1}
        - model: m2
          operations:
            fit:
              flags: {x: 2}
            other: {}
        """,
    )
    assert [o.name for o in guildfile.list_ops(gf)] == ["m1:fit", "m2:fit", "m2:other"]
    m2 = guildfile.find_op(gf, "m2:fit")
    assert m2.flags["x"].default == 2 and m2.opref.model_name == "m2"
    assert guildfile.find_op(gf, "m1:fit").flags_dest == "globals"
    assert guildfile.find_op(gf, "fit").name == "m1:fit"
    assert guildfile.find_op(gf, "nope") is None
    assert guildfile.find_op(gf, None) is None  # several ops, no default


def test_flags_import_modes(tmp_path, home):
    write(tmp_path / "s.py", "a = 1\nb = 'x'\nc = True\n")
    gf = write(
        tmp_path / "guild.yml",
        """
        unset:
          main: s
          flags:
            a: {min: 0}
        all:
          main: s
          flags-import: yes
        none:
          main: s
          flags-import: no
        some:
          main: s
          flags-import: [b]
        skip:
          main: s
          flags-import: all
          flags-import-skip: [c]
        """,
    )
    names = {o.opref.op_name: sorted(o.flags) for o in guildfile.list_ops(gf)}
    assert names == {"unset": ["a"], "all": ["a", "b", "c"], "none": [], "some": ["b"], "skip": ["a", "b"]}
    unset = guildfile.find_op(gf, "unset")
    assert unset.flags["a"].type == "number" and unset.flags["a"].default == 1 and unset.flags["a"].min == 0


@pytest.mark.parametrize(
    "text, message",
    [
        ("train: [\n", "invalid YAML"),
        ("- 1\n- 2\n", "item 1 must be a mapping"),
        ("train: 3\n", "operation 'train' must be a mapping"),
        ("train:\n  flags: [a]\n", "flags for operation 'train' must be a mapping"),
        ("train:\n  flags:\n    x: {type: bogus}\n", "invalid type 'bogus' for flag 'x'"),
        ("train:\n  requires: [prepare]\n", "requires entry of operation 'train'"),
        ("train:\n  main: a\n  exec: b\n", "cannot define both 'main' and 'exec'"),
        ("'just text'\n", "expected a mapping of operations or a list of models"),
    ],
)
def test_malformed_guildfile_is_one_clear_error(tmp_path, text, message):
    gf = tmp_path / "guild.yml"
    gf.write_text(text)
    r = guild(tmp_path / "home", "run", "train", "-y", cwd=str(tmp_path))
    assert r.rc == 1
    lines = r.out.strip().splitlines()
    assert lines[0].startswith("guild: error in %s: " % gf), r.out
    assert message in lines[0]
    assert "Traceback" not in r.out
    assert not (tmp_path / "home" / "runs").exists() or not os.listdir(tmp_path / "home" / "runs")


def test_exec_flag_refs_and_operations_command(tmp_path):
    home = tmp_path / "home"
    r = guild(home, "operations", cwd=project("sweep"))
    assert r.rc == 0
    assert r.out.splitlines() == [
        "toy:echo   Print flags (guild.yml operation over echo.py)",
        "toy:shout  Print flags through exec",
    ]
    r = guild(home, "run", "toy:shout", "x=3", "-y", cwd=project("sweep"))
    assert (r.rc, r.out) == (0, "HIHIHI\n")
    r = guild(home, "run", "shout", "z=ok", "-y", cwd=project("sweep"))
    assert (r.rc, r.out) == (0, "OKOK\n")
    r = guild(home, "run", "toy:nope", "-y", cwd=project("sweep"))
    assert r.rc == 1 and r.out.startswith("guild: cannot find operation toy:nope\n")


def test_flag_refs_resolve_in_build_cmd():
    attr = {"op-cmd": {"cmd-args": ["${python_exe}", "-c", "print(${x}, '${y}', ${unknown})"], "flags-dest": "args"}}
    cmd = opdef.build_cmd(attr, {"x": 2, "y": True})
    assert cmd[2] == "print(2, 'yes', ${unknown})"
