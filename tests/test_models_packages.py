"""``guild models`` lists the models of installed Guild packages (outside a project, or with -i)."""

from __future__ import annotations

import os

from tests.helpers import write_project
from tests.test_packages import _build, env_python, guild_env, home  # noqa: F401  (fixtures)

PKG_YML = """\
- package: shapes-pkg
  version: 0.1
- model: circle
  description: |
    Fits circles
    To points in a plane.
  operations:
    fit: {main: fit}
- model: _private
  operations:
    prep: {main: fit}
"""


def test_models_of_installed_packages(tmp_path: os.PathLike, home: str, env_python: str) -> None:  # noqa: F811
    wheel = _build(str(tmp_path), "shapes", {"guild.yml": PKG_YML, "fit.py": "print('fit')\n"}, home)
    elsewhere = str(tmp_path)
    r = guild_env(env_python, "install", wheel, cwd=elsewhere, home=home)
    assert r.exit_code == 0, r.err
    assert guild_env(env_python, "models", cwd=elsewhere, home=home).out == "shapes-pkg/circle  Fits circles\n"
    out = guild_env(env_python, "models", "-a", "-v", cwd=elsewhere, home=home).out.splitlines()
    assert out[0] == "shapes-pkg/_private"
    assert out[3] == "shapes-pkg/circle    Fits circles"
    assert out[4].startswith("  source: ") and out[4].endswith("shapes_pkg/guild.yml")
    assert out[5:] == ["  operations: fit", "    To points in a plane."]
    assert guild_env(env_python, "models", "square", cwd=elsewhere, home=home).out == ""
    # In a project directory the project's models are shown; -i shows the packages' instead.
    proj = write_project(os.path.join(str(tmp_path), "proj"), {"guild.yml": "- model: local\n  operations:\n    op: {main: x}\n"})
    assert guild_env(env_python, "models", cwd=proj, home=home).out == "local\n"
    assert guild_env(env_python, "models", "-i", cwd=proj, home=home).out == "shapes-pkg/circle  Fits circles\n"
