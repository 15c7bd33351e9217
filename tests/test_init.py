"""``guild init``: a Guild environment (``.guild``), found as Guild home below it; a virtual env with requirements.

Requirements are installed offline: pip gets ``--no-index`` and a find-links
directory of wheels built here with ``guild package``.
"""

from __future__ import annotations

import os
import subprocess
import sys

from tests.helpers import Result, write_project


def run_guild(*args: str, cwd: str, home_dir: str, env: dict | None = None, stdin: str | None = None,
              python: str = sys.executable) -> Result:
    """``guild ARGS`` without GUILD_HOME (Guild home is found as a user would find it), HOME=``home_dir``."""
    full = {k: v for k, v in os.environ.items() if k not in ("GUILD_HOME", "VIRTUAL_ENV", "CONDA_PREFIX",
                                                              "PIP_FIND_LINKS")}
    full.update(HOME=home_dir, COLUMNS="999", PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1")
    full.update(env or {})
    p = subprocess.run([python, "-m", "luigi_guild", *args], cwd=cwd, env=full, capture_output=True, text=True,
                       input=stdin if stdin is not None else "", timeout=300)
    return Result(p.returncode, p.stdout, p.stderr)


def _tree(root: str) -> list[str]:
    out = []
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            out.append(os.path.relpath(os.path.join(dirpath, name), root))
    return sorted(out)


def test_init_makes_guild_dir_used_as_guild_home_below(tmp_path: os.PathLike) -> None:
    user = os.path.join(str(tmp_path), "user")
    project = write_project(os.path.join(str(tmp_path), "proj"), {"sub/hello.py": "print('hi')\n"})
    os.makedirs(user)
    r = run_guild("init", cwd=project, home_dir=user)
    assert (r.exit_code, r.out, r.err) == (0, "Initializing Guild environment in %s\n" % project, "")
    assert _tree(os.path.join(project, ".guild")) == [".guild-nocopy", "cache", "cache/resources", "cache/runs",
                                                     "runs", "trash"]
    shared = os.path.join(user, ".guild", "cache", "resources")
    assert os.path.realpath(os.path.join(project, ".guild", "cache", "resources")) == shared
    # Guild home is that .guild for commands run in the project or below it
    sub = os.path.join(project, "sub")
    assert "guild_home:                %s/.guild\n" % project in run_guild("check", cwd=sub, home_dir=user).out
    r = run_guild("run", "hello.py", "-y", cwd=sub, home_dir=user)
    assert r.exit_code == 0, r.err
    assert len(os.listdir(os.path.join(project, ".guild", "runs"))) == 1
    # again: nothing to make; the resource cache is left as it is
    r = run_guild("init", "-y", cwd=project, home_dir=user)
    assert r.exit_code == 0
    assert r.err == "Resource cache %s/.guild/cache/resources exists, skipping\n" % project
    # elsewhere: the user's home
    other = write_project(os.path.join(str(tmp_path), "other"), {"x": ""})
    assert "guild_home:                %s/.guild\n" % user in run_guild("check", cwd=other, home_dir=user).out


def test_init_dir_local_cache_and_linked_home(tmp_path: os.PathLike) -> None:
    user = os.path.join(str(tmp_path), "user")
    os.makedirs(user)
    cwd = str(tmp_path)
    r = run_guild("init", "-l", "envs/a", cwd=cwd, home_dir=user)
    assert r.out == "Initializing Guild environment in %s/envs/a\n" % cwd
    cache = os.path.join(cwd, "envs", "a", ".guild", "cache", "resources")
    assert os.path.isdir(cache) and not os.path.islink(cache)
    shared_home = os.path.join(cwd, "shared-home")
    os.makedirs(shared_home)
    r = run_guild("init", "--guild-home", shared_home, "b", cwd=cwd, home_dir=user)
    assert r.exit_code == 0
    assert os.readlink(os.path.join(cwd, "b", ".guild")) == shared_home
    r = run_guild("init", "--guild-home", os.path.join(cwd, "elsewhere"), "b", cwd=cwd, home_dir=user)
    assert r.exit_code == 0
    assert r.err == "WARNING: Guild directory %s/b/.guild exists (links to %s), skipping link to Guild home %s/elsewhere\n" % (
        cwd, shared_home, cwd)
    # -H: the current Guild home
    r = run_guild("init", "-H", "c", cwd=cwd, home_dir=user, env={"GUILD_HOME": shared_home})
    assert os.readlink(os.path.join(cwd, "c", ".guild")) == shared_home


def test_init_venv_prompt_and_errors(tmp_path: os.PathLike) -> None:
    user = os.path.join(str(tmp_path), "user")
    os.makedirs(user)
    project = write_project(os.path.join(str(tmp_path), "proj"), {
        "guild.yml": "- package: proj\n  requires: [dep-two]\n",
        "requirements.txt": "dep-one\n",
    })
    r = run_guild("init", "--venv", cwd=project, home_dir=user, stdin="n\n")
    assert r.exit_code == 0
    assert r.out == (
        "You are about to initialize a Guild environment:\n"
        "  Location: %s/venv\n"
        "  Name: proj\n"
        "  Python interpreter: default\n"
        "  Use system site packages: no\n"
        "  Guild: 0.1.0\n"
        "  Guild package requirements:\n"
        "    dep-two\n"
        "  Python requirements:\n"
        "    requirements.txt\n"
        "  Resource cache: shared\n" % project
    )
    assert r.err == "Continue? (Y/n) "
    assert "venv" not in os.listdir(project)
    r = run_guild("init", "--no-reqs", "-r", "extra.txt", "-P", "lib", "--pre", "-n", "mine", cwd=project,
                  home_dir=user)  # end of input at the prompt
    assert r.exit_code == 1
    assert "  Name: mine\n  Python interpreter: default\n" in r.out
    assert "Guild package requirements" not in r.out and "    extra.txt\n" in r.out
    assert "  Use pre-release: yes\n  Additional paths:\n    lib\n" in r.out
    assert "venv" not in os.listdir(project)
    r = run_guild("init", "-p", "2.1", "-y", cwd=project, home_dir=user)
    assert (r.exit_code, r.err) == (1, "guild: cannot find Python interpreter 'python2.1'\n"
                                       "Check the --python value and try again.\n")
    assert "venv" not in os.listdir(project)
    r = run_guild("init", "--guild-home", cwd=project, home_dir=user)
    assert r.exit_code == 2 and "Option '--guild-home' requires an argument" in r.err


def test_init_venv_installs_requirements_offline(tmp_path: os.PathLike) -> None:
    tmp = str(tmp_path)
    user = os.path.join(tmp, "user")
    os.makedirs(user)
    wheels = os.path.join(tmp, "wheels")
    for name, version, module in (("dep-one", "1.0", "one.py"), ("dep-two", "2.0", "two.py")):
        dep = write_project(os.path.join(tmp, name), {"guild.yml": "- package: %s\n  version: %s\n" % (name, version),
                                                      module: "VALUE = %r\n" % name})
        assert run_guild("package", "-d", wheels, cwd=dep, home_dir=user).exit_code == 0
    project = write_project(os.path.join(tmp, "proj"), {
        "guild.yml": "- package: proj\n  requires: [dep-two]\n- model: m\n  operations:\n    op: {main: op}\n",
        "requirements.txt": "dep-one\n",
        "op.py": "import dep_one.one, dep_two.two, mylib\nprint(dep_one.one.VALUE, dep_two.two.VALUE, mylib.X)\n",
        "lib/mylib.py": "X = 'from path'\n",
    })
    offline = {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": wheels}
    r = run_guild("init", "--venv", "-y", "--no-progress", "-P", "lib", cwd=project, home_dir=user, env=offline)
    assert r.exit_code == 0, r.err
    lines = [ln for ln in r.out.splitlines() if not ln.startswith(("Looking in", "Processing", "Installing collected",
                                                                   "Successfully"))]
    assert lines == [
        "Initializing Guild environment in %s/venv" % project,
        "Creating virtual environment",
        "Upgrading pip",
        "Installing Guild luigi-guild==0.1.0",
        "Installing Guild package requirements",
        "Installing Python requirements",
        "Guild environment initialized in %s/venv" % project,
        "",
        "To activate it run:",
        "",
        "  source venv/bin/activate",
        "",
    ]
    env_python = os.path.join(project, "venv", "bin", "python")
    active = {"VIRTUAL_ENV": os.path.join(project, "venv")}
    r = run_guild("run", "m:op", "-y", cwd=project, home_dir=user, env=active, python=env_python)
    assert (r.exit_code, r.out) == (0, "dep-one dep-two from path\n"), r.err
    assert len(os.listdir(os.path.join(project, "venv", ".guild", "runs"))) == 1
    clean = {k: v for k, v in os.environ.items() if k != "GUILD_HOME"}
    r = subprocess.run([os.path.join(project, "venv", "bin", "guild"), "check"], capture_output=True, text=True,
                       env={**clean, **active, "HOME": user})
    assert "guild_home:                %s/venv/.guild\n" % project in r.stdout
    assert "python_exe:                %s\n" % env_python in r.stdout
