"""Guild packages: installed distributions that ship guild.yml operations, pip installs and index search.

A Guild package is a wheel whose metadata keywords include ``gpkg`` and whose
``guild.models`` entry points name its models; its guild.yml travels inside it
as package data. pip does the installing (run as ``python -m pip`` in this
interpreter); the package index is ``$GUILD_PACKAGE_INDEX`` (a PEP 503 simple
index), PyPI's by default.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from typing import Any, Iterable

from luigi_guild.model.errors import GuildError
from luigi_guild.model.opdef import OpDef
from luigi_guild.model.opref import OpRef

INDEX_ENV = "GUILD_PACKAGE_INDEX"
DEFAULT_INDEX = "https://pypi.python.org/simple"
GPKG_KEYWORD = "gpkg"
MODELS_GROUP = "guild.models"


def index_url() -> str:
    """The package index ``guild install`` and ``guild search`` use."""
    return (os.environ.get(INDEX_ENV) or DEFAULT_INDEX).rstrip("/")


# ------------------------------------------------------------ installed


@dataclass
class Package:
    """One installed distribution, as ``guild packages`` lists it."""

    name: str
    version: str
    summary: str
    is_guild: bool


def _strip_suffix(summary: str) -> str:
    return re.sub(r" \(Guild AI\)$", "", summary)


def _is_gpkg(meta: Any) -> bool:
    return GPKG_KEYWORD in str(meta.get("Keywords") or "").replace(",", " ").split()


def installed(all_: bool = False, terms: Iterable[str] = ()) -> list[Package]:
    """Installed Guild packages (every distribution with ``all_``) matching all ``terms``, by name."""
    from importlib import metadata

    seen: set[str] = set()
    found = []
    for dist in metadata.distributions():
        meta: Any = dist.metadata
        name = meta.get("Name")
        if not name or name.lower() in seen:
            continue
        seen.add(name.lower())
        pkg = Package(name, meta.get("Version") or "", _strip_suffix(meta.get("Summary") or ""), _is_gpkg(meta))
        if (all_ or pkg.is_guild) and match_terms(terms, [pkg.name, pkg.summary]):
            found.append(pkg)
    return sorted(found, key=lambda p: p.name)


def match_terms(terms: Iterable[str], values: list[str]) -> bool:
    """Whether every term occurs (case-insensitively) in one of ``values``."""
    lowered = [v.lower() for v in values]
    return all(any(t.lower() in v for v in lowered) for t in terms)


def package_guildfile(name: str) -> str | None:
    """The guild.yml shipped by installed Guild package ``name``, None when there is none."""
    from importlib import metadata

    try:
        dist = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return None
    if not _is_gpkg(dist.metadata):
        return None
    want = python_package(name).replace(".", "/") + "/guild.yml"
    for f in dist.files or ():
        if str(f).replace(os.sep, "/") == want:
            return str(dist.locate_file(f))
    return None


def guild_packages_with_ops() -> list[tuple[str, str, str]]:
    """``(package name, version, guild.yml path)`` of every installed Guild package that ships operations."""
    out: list[tuple[str, str, str]] = []
    for pkg in installed():
        path = package_guildfile(pkg.name)
        if path and os.path.isfile(path):
            out.append((pkg.name, pkg.version, path))
    return out


def python_package(name: str) -> str:
    """The Python package a Guild package's files live in (``-`` becomes ``_``)."""
    return name.replace("-", "_")


# ------------------------------------------------------------ pip


def _pip(args: list[str], capture: bool = False) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("PIP_REQ_TRACKER", None)
    cmd = [sys.executable, "-m", "pip", *args]
    try:
        return subprocess.run(cmd, env=env, capture_output=capture, text=capture)
    except OSError as e:  # pragma: no cover - the interpreter itself is missing
        raise GuildError("cannot run pip: %s" % e) from None


def _pip_failed(cmd: list[str], code: int) -> GuildError:
    return GuildError(str(subprocess.CalledProcessError(code, [sys.executable, "-m", "pip", *cmd])))


def install(
    reqs: Iterable[str],
    upgrade: bool = False,
    reinstall: bool = False,
    no_cache: bool = False,
    no_deps: bool = False,
    pre: bool = False,
    target: str | None = None,
) -> None:
    """``pip install`` the packages: wheel files and requirements files as given, names from the index."""
    paths = [r for r in reqs if os.path.exists(r)]
    names = [r for r in reqs if not os.path.exists(r)]
    for group, use_index in ((names, True), (paths, False)):
        if not group:
            continue
        args = ["install"]
        if pre:
            args.append("--pre")
        if upgrade or reinstall:
            args.append("--upgrade")
        if no_cache:
            args.append("--no-cache-dir")
        if no_deps:
            args.append("--no-deps")
        if reinstall:
            args.append("--force-reinstall")
        if use_index:
            args += ["--index-url", index_url()]
        if target:
            args += ["--target", target]
        for req in group:
            if req.endswith("requirements.txt"):
                args.append("--requirement")
            args.append(req)
        code = _pip(args).returncode
        if code != 0:
            raise _pip_failed(args, code)


def uninstall(reqs: Iterable[str], yes: bool = False) -> None:
    """``pip uninstall`` each package in turn (pip asks unless ``yes``; pip warns about unknown ones)."""
    for req in reqs:
        args = ["uninstall"] + (["--yes"] if yes else []) + [req]
        code = _pip(args).returncode
        if code != 0:
            raise _pip_failed(args, code)


def info_lines(name: str, verbose: bool = False, files: bool = False) -> list[str] | None:
    """``pip show`` for ``name`` with lower-case field names; None when it is not installed."""
    args = ["show"] + (["--verbose"] if verbose else []) + (["--files"] if files else []) + [name]
    proc = _pip(args, capture=True)
    if proc.returncode != 0:
        return None
    out: list[str] = []
    for line in proc.stdout.splitlines():
        m = re.match(r"([^:\s][^:]*:)(.*)", line)
        out.append((m.group(1).lower() + m.group(2) if m else line).rstrip())
    return out


# ------------------------------------------------------------ index search


@dataclass
class Found:
    """A project found in the package index."""

    name: str
    version: str
    summary: str
    is_guild: bool


_ACCEPT = "application/vnd.pypi.simple.v1+json, text/html;q=0.1"


def _get(url: str, timeout: float) -> tuple[bytes, str]:
    import urllib.request

    req = urllib.request.Request(url, headers={"Accept": _ACCEPT, "User-Agent": "luigi-guild"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - a configured index URL
        return resp.read(), resp.headers.get("Content-Type", "")


def _links(body: bytes, ctype: str, base: str) -> list[dict[str, Any]]:
    """The entries of a simple-index page, JSON (PEP 691) or HTML (PEP 503), as JSON-style dicts."""
    import json
    import urllib.parse

    if "json" in ctype:
        data = json.loads(body)
        if "projects" in data:
            return [{"name": p["name"]} for p in data["projects"]]
        return [
            {"filename": f["filename"], "url": urllib.parse.urljoin(base, f["url"]),
             "metadata": bool(f.get("core-metadata") or f.get("dist-info-metadata"))}
            for f in data.get("files", [])
        ]
    from html.parser import HTMLParser

    entries: list[dict[str, Any]] = []

    class Anchors(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.attrs: dict[str, str | None] | None = None
            self.text = ""

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            if tag == "a":
                self.attrs, self.text = dict(attrs), ""

        def handle_data(self, data: str) -> None:
            if self.attrs is not None:
                self.text += data

        def handle_endtag(self, tag: str) -> None:
            if tag == "a" and self.attrs is not None:
                href = self.attrs.get("href") or ""
                entries.append({
                    "name": self.text.strip(),
                    "filename": self.text.strip(),
                    "url": urllib.parse.urljoin(base, href.split("#")[0]),
                    "metadata": any(k in self.attrs for k in ("data-core-metadata", "data-dist-info-metadata")),
                })
                self.attrs = None

    Anchors().feed(body.decode("utf-8", "replace"))
    return entries


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _version_of(filename: str) -> Any:
    from packaging.utils import InvalidSdistFilename, InvalidWheelFilename, parse_sdist_filename, parse_wheel_filename

    try:
        if filename.endswith(".whl"):
            return parse_wheel_filename(filename)[1]
        return parse_sdist_filename(filename)[1]
    except (InvalidWheelFilename, InvalidSdistFilename):
        return None


def _project(index: str, name: str, timeout: float) -> Found:
    from email.parser import HeaderParser

    base = "%s/%s/" % (index, _normalize(name))
    body, ctype = _get(base, timeout)
    files = [(v, f) for f in _links(body, ctype, base) if (v := _version_of(f.get("filename", ""))) is not None]
    if not files:
        return Found(name, "", "", name.startswith("gpkg."))
    version, newest = max(files, key=lambda vf: vf[0])
    summary, is_guild = "", name.startswith("gpkg.")
    if newest.get("metadata"):
        meta = HeaderParser().parsestr(_get(newest["url"] + ".metadata", timeout)[0].decode("utf-8", "replace"))
        summary, is_guild = _strip_suffix(meta.get("Summary") or ""), is_guild or _is_gpkg(meta)
    return Found(name, str(version), summary, is_guild)


def search(terms: Iterable[str], all_: bool = False, timeout: float = 10.0) -> list[Found]:
    """Projects in the index whose name has every term; only Guild packages unless ``all_``.

    A project's version is its newest file's; its summary and whether it is a
    Guild package come from that file's metadata when the index serves it
    (PEP 658), else only ``gpkg.``-prefixed names count as Guild packages.
    """
    import urllib.error

    index = index_url()
    terms = list(terms)
    try:
        body, ctype = _get(index + "/", timeout)
        names = [e["name"] for e in _links(body, ctype, index + "/") if e.get("name")]
        matches = sorted({n for n in names if match_terms(terms, [n])})
        found = [_project(index, n, timeout) for n in matches]
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", None) or e
        raise GuildError("cannot reach package index %s: %s" % (index, reason)) from None
    return [f for f in found if all_ or f.is_guild]


# ------------------------------------------------------------ operations of installed packages


def _as_package_op(opdef: OpDef, name: str, version: str) -> OpDef:
    import dataclasses

    ref = opdef.opref
    return dataclasses.replace(opdef, opref=OpRef("package", name, version, ref.model_name, ref.op_name))


def package_ops() -> list[OpDef]:
    """Every operation of every installed Guild package, shown as ``PACKAGE/MODEL:OP``."""
    from luigi_guild.project import guildfile as gf

    out: list[OpDef] = []
    for name, version, path in guild_packages_with_ops():
        out.extend(_as_package_op(op, name, version) for op in gf.list_ops(path))
    return out


def find_op(opspec: str) -> OpDef | None:
    """The installed package operation ``PACKAGE/[MODEL:]OP``, or ``[MODEL:]OP`` when one package has it."""
    from luigi_guild.project import guildfile as gf

    pkg, sep, rest = opspec.partition("/")
    if sep:
        if not pkg or not rest:
            return None
        path = package_guildfile(pkg)
        opdef = gf.find_op(path, rest) if path else None
        if opdef is None:
            return None
        from importlib import metadata

        return _as_package_op(opdef, metadata.distribution(pkg).metadata["Name"], metadata.version(pkg))
    found = [
        _as_package_op(op, name, version)
        for name, version, path in guild_packages_with_ops()
        if (op := gf.find_op(path, opspec)) is not None
    ]
    return found[0] if len(found) == 1 else None
