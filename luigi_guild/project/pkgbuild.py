"""Building a Guild package: a wheel made from guild.yml's ``package:`` section (``guild package``).

The wheel is laid out as Guild lays it, so either tool finds its operations:
the project's Python modules, guild.yml, README/LICENSE and the ``data-files``
live in one Python package named after the Guild package (``-`` becomes
``_``), its keywords include ``gpkg``, and each model is a ``guild.models``
entry point. setuptools builds it, in a child process (``python -m
luigi_guild.project.pkgbuild SPEC``) working in a scratch copy, so the
project directory gets nothing but the wheel.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from typing import Any

from luigi_guild.model.errors import GuildError

DEFAULT_VERSION = "0.0.0"
MULTI_ARCH = ("tensorflow-any",)
DEFAULT_FILES = ("guild.yml", "LICENSE", "LICENSE.*", "README", "README.*")
# Where the models of a Guild package are found; the same value Guild writes, so guildai reads them too.
MODEL_EP = "guild.model:PackageModel"


def _load_items(path: str) -> list[Any]:
    import yaml

    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise GuildError("error reading %s\n%s" % (path, e)) from None
    if isinstance(data, list):
        return data
    return [data] if data is not None else []


def package_section(guildfile: str) -> dict | None:
    """The ``package:`` item of the guild.yml at ``guildfile`` (None when it has none)."""
    for item in _load_items(guildfile):
        if isinstance(item, dict) and "package" in item:
            return item
    return None


def _model_names(guildfile: str) -> list[str]:
    from luigi_guild.project import guildfile as gf

    names: list[str] = []
    for op in gf.list_ops(guildfile):
        if op.opref.model_name not in names:
            names.append(op.opref.model_name)
    return names


def _requires(project_dir: str, section: dict) -> list[str]:
    reqs = section.get("requires")
    if isinstance(reqs, str):
        reqs = [reqs]
    if reqs:
        return [str(r) for r in reqs if not str(r).startswith(MULTI_ARCH)]
    path = os.path.join(project_dir, "requirements.txt")
    if not os.path.isfile(path):
        return []
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line and not line.startswith("-"):
                out.append(line)
    return out


def _check_version(guildfile: str, version: object) -> None:
    from packaging.version import InvalidVersion, Version

    try:
        Version(str(version))
    except InvalidVersion:
        raise GuildError("invalid package version %r in %s" % (str(version), guildfile),
                         hint="Use a version such as 1.0 or 0.2.1.") from None


def _check_requires(guildfile: str, requires: list[str]) -> None:
    from packaging.requirements import InvalidRequirement, Requirement

    for req in requires:
        try:
            Requirement(req)
        except InvalidRequirement:
            raise GuildError("invalid requirement %r for package in %s" % (req, guildfile)) from None


def build_spec(guildfile: str, dist_dir: str | None) -> tuple[dict[str, Any], list[str]]:
    """What to build from ``guildfile``: the spec the builder process reads, and warnings to show first."""
    project_dir = os.path.dirname(os.path.abspath(guildfile))
    warnings: list[str] = []
    models = _model_names(guildfile)  # reads guild.yml first: its errors are the guildfile module's one-liners
    section = package_section(guildfile)
    if section is None:  # Guild names the package after the first named model
        named = [m for m in models if m]
        if named:
            name = named[0]
        else:
            name = "gpkg.anonymous_%s" % hashlib.md5(os.path.abspath(guildfile).encode()).hexdigest()[:8]
            warnings.append("package name not defined in %s - using %s" % (guildfile, name))
        section = {"package": name}
    name = str(section.get("package") or "")
    if not name:
        raise GuildError("%s is missing required 'package' attribute" % guildfile)
    python_pkg = name.replace("-", "_")
    parts = python_pkg.split(".")
    if all(os.path.isfile(os.path.join(project_dir, *parts[: i + 1], "__init__.py")) for i in range(len(parts))):
        raise GuildError(
            "package name '%s' in guild.yml conflicts with Python package '%s'" % (python_pkg, python_pkg),
            hint="Provide a unique package name in guild.yml and try again.",
        )
    _check_version(guildfile, section.get("version", DEFAULT_VERSION))
    requires = _requires(project_dir, section)
    _check_requires(guildfile, requires)
    description = str(section.get("description") or "").strip()
    tags = section.get("tags") or []
    if isinstance(tags, str):
        tags = tags.split()
    tags = [str(t) for t in tags]
    if "gpkg" not in tags:
        tags.append("gpkg")
    data_files = section.get("data-files") or []
    if isinstance(data_files, str):
        data_files = [data_files]
    spec = {
        "project_dir": project_dir,
        "python_pkg": python_pkg,
        "data_files": [str(p) for p in data_files],
        "default_files": list(DEFAULT_FILES),
        "packages": section.get("packages"),
        "python_tag": section.get("python-tag"),
        "dist_dir": os.path.abspath(dist_dir) if dist_dir else os.path.join(project_dir, "dist"),
        "package_yaml": {k: ([v] if k == "requires" and isinstance(v, str) else v) for k, v in section.items()},
        "setup": {
            "name": name,
            "version": str(section.get("version", DEFAULT_VERSION)),
            "description": description.split("\n")[0],
            "long_description": description,
            "long_description_content_type": "text/plain",
            "url": section.get("url"),
            "author": section.get("author"),
            "author_email": section.get("author-email"),
            "license": section.get("license"),
            "keywords": " ".join(tags),
            "python_requires": section.get("python-requires"),
            "install_requires": requires,
            "entry_points": {"guild.models": ["%s = %s" % (m or "__anonymous__", MODEL_EP) for m in sorted(models)]}
            if models
            else {},
        },
    }
    return spec, warnings


def build(guildfile: str, dist_dir: str | None = None, quiet: bool = True) -> str:
    """Build the package wheel for ``guildfile``; returns the wheel's path."""
    spec, warnings = build_spec(guildfile, dist_dir)
    for w in warnings:
        sys.stderr.write("WARNING: %s\n" % w)
    with tempfile.TemporaryDirectory(prefix="guild-package-") as tmp:
        spec_path = os.path.join(tmp, "spec.json")
        with open(spec_path, "w") as f:
            json.dump(spec, f)
        cmd = [sys.executable, "-m", "luigi_guild.project.pkgbuild", spec_path]
        proc = subprocess.run(cmd, cwd=tmp, capture_output=quiet, text=True)
        if proc.returncode != 0:
            detail = (proc.stderr or proc.stdout or "").strip().splitlines() if quiet else []
            raise GuildError(
                "cannot build package %s%s" % (spec["setup"]["name"], (": " + detail[-1]) if detail else "")
            )
        for line in (proc.stderr or "").splitlines() if quiet else []:
            if line.startswith("WARNING: "):  # the builder's own warnings (data-file patterns that match nothing)
                sys.stderr.write(line + "\n")
        with open(os.path.join(tmp, "wheel.txt")) as f:
            return f.read().strip()


# ------------------------------------------------------------ the builder process


def _copy(src: str, dest: str) -> None:
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    shutil.copy2(src, dest)


def _stage(spec: dict[str, Any], stage: str) -> tuple[list[str], dict[str, str], list[str]]:
    """Copy the project into ``stage``; returns (packages, package_dir, package data patterns)."""
    import setuptools  # type: ignore[import-untyped,import-not-found,unused-ignore]

    project = spec["project_dir"]
    base = spec["python_pkg"]
    base_dir = os.path.join(stage, "src", *base.split("."))
    os.makedirs(base_dir, exist_ok=True)
    if spec.get("packages"):
        pkgs = dict(spec["packages"])
        for pkg, src in pkgs.items():
            shutil.copytree(os.path.join(project, src), os.path.join(stage, "src", *pkg.split(".")), dirs_exist_ok=True)
        return list(pkgs), {"": "src"}, []
    found = setuptools.find_packages(project, exclude=["build", "build.*", "dist", "dist.*", base, base + ".*"])
    for name in os.listdir(project):
        if name.endswith(".py") and os.path.isfile(os.path.join(project, name)):
            _copy(os.path.join(project, name), os.path.join(base_dir, name))
    for pkg in found:
        rel = pkg.replace(".", os.sep)
        for f in os.listdir(os.path.join(project, rel)):
            if f.endswith(".py"):
                _copy(os.path.join(project, rel, f), os.path.join(base_dir, rel, f))
    data: list[str] = []
    cwd = os.getcwd()
    os.chdir(project)
    try:
        for pattern in spec["data_files"]:
            matched = _match(pattern)
            if not matched:
                sys.stderr.write("WARNING: Nothing matched data file pattern '%s'\n" % pattern)
            data.extend(matched)
        for pattern in spec["default_files"]:
            data.extend(glob.glob(pattern))
    finally:
        os.chdir(cwd)
    for rel in data:
        if os.path.isfile(os.path.join(project, rel)):
            _copy(os.path.join(project, rel), os.path.join(base_dir, rel))
    return [base] + ["%s.%s" % (base, p) for p in found], {"": "src"}, sorted(set(data))


def _match(pattern: str) -> list[str]:
    if os.path.isdir(pattern):
        out: list[str] = []
        for root, _dirs, files in os.walk(pattern, followlinks=True):
            out.extend(os.path.join(root, f) for f in files)
        return out
    return glob.glob(pattern)


def _main(spec_path: str) -> None:  # pragma: no cover - runs in the builder process
    import warnings

    warnings.simplefilter("ignore")
    import setuptools  # type: ignore[import-untyped,import-not-found,unused-ignore]
    import yaml

    with open(spec_path) as f:
        spec = json.load(f)
    stage = os.path.dirname(spec_path)
    packages, package_dir, data = _stage(spec, stage)
    kw = {k: v for k, v in spec["setup"].items() if v not in (None, {}, [])}
    kw.update(packages=packages, package_dir=package_dir, package_data={spec["python_pkg"]: data})
    egg_info = os.path.join(stage, "src", "%s.egg-info" % kw["name"].replace("-", "_"))
    os.makedirs(egg_info, exist_ok=True)
    with open(os.path.join(egg_info, "PACKAGE"), "w") as f:
        yaml.safe_dump(spec["package_yaml"], f, default_flow_style=False, width=9999)
    tag = ["--python-tag", spec["python_tag"]] if spec.get("python_tag") else ["--python-tag", "py3"]
    out_dir = os.path.join(stage, "out")
    sys.argv = ["setup.py", "-q", "bdist_wheel", *tag, "--dist-dir", out_dir]
    setuptools.setup(**kw)
    wheels = [w for w in os.listdir(out_dir) if w.endswith(".whl")]
    os.makedirs(spec["dist_dir"], exist_ok=True)
    dest = os.path.join(spec["dist_dir"], wheels[0])
    shutil.copy2(os.path.join(out_dir, wheels[0]), dest)
    with open(os.path.join(stage, "wheel.txt"), "w") as f:
        f.write(dest)


if __name__ == "__main__":  # pragma: no cover
    _main(sys.argv[1])
