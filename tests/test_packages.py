"""Package commands: guild package, install, uninstall, packages, search, tensorflow inspect.

Installs go into a throwaway virtual env (made without pip, seeing this
project's environment through a site .pth) so the test venv is never
changed; the package index is a stdlib HTTP server on 127.0.0.1 serving a
PEP 503 simple index of wheels built here with ``guild package``.
"""

from __future__ import annotations

import email.parser
import functools
import http.server
import os
import socket
import subprocess
import sys
import sysconfig
import threading
import zipfile
from typing import Iterator

import pytest

from tests.guildai import guildai  # noqa: F401 - fixture
from tests.helpers import Result, guild, write_project

PKG_YML = """\
- package: demo-pkg
  version: 1.2
  description: |
    Demo package
    More about it.
  tags: [demo]
  data-files: [data]
- model: m
  operations:
    train:
      description: Train it
      main: train
      flags:
        x: 1
"""
PKG_FILES = {
    "guild.yml": PKG_YML,
    "train.py": "from util import helper\nx = 1\nprint('x', x, helper.NAME)\n",
    "util/__init__.py": "",
    "util/helper.py": "NAME = 'helped'\n",
    "data/table.txt": "1 2 3\n",
    "README.md": "# Demo\n",
    "notes.txt": "not shipped\n",
}


def _pkg_env() -> dict[str, str]:
    return {"PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}


def _build(tmp_path: str, name: str, files: dict[str, str], home: str) -> str:
    project = write_project(os.path.join(tmp_path, name), files)
    dist = os.path.join(tmp_path, "dist")
    r = guild("package", "-d", dist, cwd=project, home=home)
    assert r.exit_code == 0, r.err
    wheel = r.out.strip().split()[-1]
    return os.path.normpath(os.path.join(project, wheel))


@pytest.fixture
def home(tmp_path: os.PathLike) -> str:
    path = os.path.join(str(tmp_path), "guild-home")
    os.makedirs(path)
    return path


@pytest.fixture
def env_python(tmp_path: os.PathLike) -> str:
    """A fresh virtual env's python that also sees this project's site-packages."""
    env = os.path.join(str(tmp_path), "env")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", env], check=True)
    python = os.path.join(env, "bin", "python")
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    with open(os.path.join(purelib, "parent.pth"), "w") as f:
        f.write("import site; site.addsitedir(%r)\n" % sysconfig.get_paths()["purelib"])
    return python


def guild_env(python: str, *args: str, cwd: str, home: str, env: dict | None = None) -> Result:
    full = dict(os.environ, GUILD_HOME=home, COLUMNS="999", **_pkg_env())
    full.pop("PIP_FIND_LINKS", None)
    full.update(env or {})
    p = subprocess.run([python, "-m", "luigi_guild", *args], cwd=cwd, env=full, capture_output=True, text=True,
                       timeout=120)
    return Result(p.returncode, p.stdout, p.stderr)


# ------------------------------------------------------------------ guild package


def test_package_builds_guilds_wheel_layout(tmp_path: os.PathLike, home: str) -> None:
    wheel = _build(str(tmp_path), "proj", PKG_FILES, home)
    assert os.path.basename(wheel) == "demo_pkg-1.2-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        meta = email.parser.HeaderParser().parsestr(z.read("demo_pkg-1.2.dist-info/METADATA").decode())
        eps = z.read("demo_pkg-1.2.dist-info/entry_points.txt").decode()
        pkg_yaml = z.read("demo_pkg-1.2.dist-info/PACKAGE").decode()
    for want in ("demo_pkg/guild.yml", "demo_pkg/train.py", "demo_pkg/util/__init__.py", "demo_pkg/util/helper.py",
                 "demo_pkg/data/table.txt", "demo_pkg/README.md"):
        assert want in names
    assert "demo_pkg/notes.txt" not in names
    assert meta["Name"] == "demo-pkg" and meta["Version"] == "1.2"
    assert meta["Summary"] == "Demo package"
    assert meta["Keywords"].split() == ["demo", "gpkg"]
    assert "[guild.models]" in eps and "m = guild.model:PackageModel" in eps
    assert "package: demo-pkg" in pkg_yaml
    # nothing but the wheel is written, and only where asked
    assert sorted(os.listdir(os.path.join(str(tmp_path), "proj"))) == sorted(
        ["guild.yml", "train.py", "util", "data", "README.md", "notes.txt"]
    )


def test_package_default_dist_dir_and_requirements(tmp_path: os.PathLike, home: str) -> None:
    project = write_project(os.path.join(str(tmp_path), "p"), {
        "guild.yml": "- model: solo\n  operations:\n    go: {main: go}\n",
        "go.py": "print('go')\n",
        "requirements.txt": "# comment\nclick>=8\n\n",
    })
    r = guild("package", cwd=project, home=home)
    assert r.exit_code == 0, r.err
    assert r.out.strip() == "Created dist/solo-0.0.0-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(project, "dist", "solo-0.0.0-py3-none-any.whl")) as z:
        meta = z.read("solo-0.0.0.dist-info/METADATA").decode()
    assert "Requires-Dist: click>=8" in meta


def test_package_errors(tmp_path: os.PathLike, home: str) -> None:
    empty = write_project(os.path.join(str(tmp_path), "empty"), {"x.py": ""})
    r = guild("package", cwd=empty, home=home)
    assert r.exit_code == 1
    assert r.err == (
        "guild: the current directory does not contain a guild.yml file\n"
        "guild.yml is required when creating a package. Create one in this directory first "
        "or try specifying a different directory.\n"
    )
    assert os.listdir(empty) == ["x.py"]
    clash = write_project(os.path.join(str(tmp_path), "clash"), {
        "guild.yml": "- package: tool\n- model: m\n  operations:\n    op: {main: tool.run}\n",
        "tool/__init__.py": "", "tool/run.py": "",
    })
    r = guild("package", cwd=clash, home=home)
    assert r.exit_code == 1 and "Traceback" not in r.err
    assert "package name 'tool' in guild.yml conflicts with Python package 'tool'" in r.err
    assert not os.path.exists(os.path.join(clash, "dist"))
    anon = write_project(os.path.join(str(tmp_path), "anon"), {"guild.yml": "op:\n  main: op\n", "op.py": ""})
    r = guild("package", "-d", "out", cwd=anon, home=home)
    assert r.exit_code == 0, r.err
    assert r.err.startswith("WARNING: package name not defined in %s - using gpkg.anonymous_" % os.path.join(anon, "guild.yml"))
    try:
        import twine  # noqa: F401
    except ImportError:
        r = guild("package", "--upload", cwd=anon, home=home)
        assert (r.exit_code, r.err) == (1, "guild: Twine is required to upload packages. Install it by running "
                                           "'pip install twine'.\n")


# ------------------------------------------------------------------ install, run, uninstall


def test_install_run_restart_uninstall(tmp_path: os.PathLike, home: str, env_python: str) -> None:
    wheel = _build(str(tmp_path), "proj", PKG_FILES, home)
    elsewhere = str(tmp_path)
    r = guild_env(env_python, "install", wheel, cwd=elsewhere, home=home)
    assert r.exit_code == 0, r.err
    r = guild_env(env_python, "packages", cwd=elsewhere, home=home)
    assert r.out == "demo-pkg  1.2  Demo package\n"
    assert guild_env(env_python, "packages", "list", "demo", "package", cwd=elsewhere, home=home).out.startswith("demo-pkg")
    assert guild_env(env_python, "packages", "ls", "nomatch", cwd=elsewhere, home=home).out == ""
    info = guild_env(env_python, "packages", "info", "demo-pkg", "no-such-pkg", cwd=elsewhere, home=home)
    assert info.exit_code == 0
    assert info.out.splitlines()[:3] == ["name: demo-pkg", "version: 1.2", "summary: Demo package"]
    assert info.out.rstrip().endswith("---")
    assert "WARNING: unknown package no-such-pkg" in info.err
    files = guild_env(env_python, "packages", "info", "-f", "demo-pkg", cwd=elsewhere, home=home).out
    assert "demo_pkg/guild.yml" in files
    # operations of installed packages: listed outside a project, run by PACKAGE/MODEL:OP
    r = guild_env(env_python, "ops", cwd=elsewhere, home=home)
    assert r.out == "demo-pkg/m:train  Train it\n"
    r = guild_env(env_python, "run", "demo-pkg/m:train", "x=2", "-y", cwd=elsewhere, home=home)
    assert (r.exit_code, r.out) == (0, "x 2 helped\n"), r.err
    runs = guild_env(env_python, "runs", cwd=elsewhere, home=home).out
    assert "demo-pkg/m:train" in runs and "x=2" in runs
    run_id = guild_env(env_python, "select", cwd=elsewhere, home=home).out.strip()
    with open(os.path.join(home, "runs", run_id, ".guild", "opref")) as f:
        assert f.read().strip() == "package:demo-pkg 1.2 m train"
    r = guild_env(env_python, "run", "m:train", "-y", cwd=elsewhere, home=home)  # the only package with m:train
    assert (r.exit_code, r.out) == (0, "x 1 helped\n"), r.err
    r = guild_env(env_python, "run", "--restart", run_id, "x=3", "-y", cwd=elsewhere, home=home)
    assert (r.exit_code, r.out) == (0, "x 3 helped\n"), r.err
    # uninstall (pip asks without -y; end of input declines)
    r = guild_env(env_python, "uninstall", "-y", "demo-pkg", cwd=elsewhere, home=home)
    assert r.exit_code == 0, r.err
    assert guild_env(env_python, "packages", cwd=elsewhere, home=home).out == ""
    r = guild_env(env_python, "run", "demo-pkg/m:train", "-y", cwd=elsewhere, home=home)
    assert r.exit_code == 1 and r.err.startswith("guild: cannot find operation demo-pkg/m:train\n")
    r = guild_env(env_python, "packages", "rm", "-y", "demo-pkg", cwd=elsewhere, home=home)
    assert r.exit_code == 0 and "not installed" in r.err


# ------------------------------------------------------------------ the package index


def _write_index(root: str, wheels: list[tuple[str, bool]]) -> None:
    """A PEP 503 simple index under ``root/simple``; metadata files (PEP 658) for wheels flagged True."""
    files = os.path.join(root, "files")
    os.makedirs(files)
    projects = {}
    for wheel, with_meta in wheels:
        base = os.path.basename(wheel)
        _copy(wheel, os.path.join(files, base))
        with zipfile.ZipFile(wheel) as z:
            meta_name = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
            meta = z.read(meta_name)
        if with_meta:
            with open(os.path.join(files, base + ".metadata"), "wb") as f:
                f.write(meta)
        name = email.parser.HeaderParser().parsestr(meta.decode())["Name"]
        projects.setdefault(name.lower(), []).append((base, with_meta))
    simple = os.path.join(root, "simple")
    os.makedirs(simple)
    with open(os.path.join(simple, "index.html"), "w") as f:
        f.write("<html><body>%s</body></html>" % "".join('<a href="%s/">%s</a>\n' % (n, n) for n in projects))
    for name, entries in projects.items():
        os.makedirs(os.path.join(simple, name))
        links = "".join(
            '<a href="../../files/%s"%s>%s</a>\n' % (b, ' data-core-metadata="true"' if m else "", b) for b, m in entries
        )
        with open(os.path.join(simple, name, "index.html"), "w") as f:
            f.write("<html><body>%s</body></html>" % links)


def _copy(src: str, dest: str) -> None:
    with open(src, "rb") as a, open(dest, "wb") as b:
        b.write(a.read())


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def index(tmp_path: os.PathLike, home: str) -> Iterator[str]:
    tmp = str(tmp_path)
    gpkg = _build(tmp, "hello-gpkg", {
        "guild.yml": "- package: hello-gpkg\n  version: 0.3\n  description: Says hello (Guild AI)\n"
                     "- model: hi\n  operations:\n    say: {main: say}\n",
        "say.py": "print('hello')\n",
    }, home)
    plain = _build(tmp, "hello-plain", {
        "guild.yml": "- package: hello-plain\n  version: 2.0\n- model: p\n  operations:\n    op: {main: op}\n",
        "op.py": "",
    }, home)
    root = os.path.join(tmp, "www")
    _write_index(root, [(gpkg, True), (plain, False)])
    handler = functools.partial(_QuietHandler, directory=root)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield "http://127.0.0.1:%d/simple" % server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_search_and_install_from_index(tmp_path: os.PathLike, home: str, index: str, env_python: str) -> None:
    env = {"GUILD_PACKAGE_INDEX": index}
    cwd = os.path.join(str(tmp_path), "work")  # not where the projects are: a PACKAGE that is a path installs that path
    os.makedirs(cwd)
    r = guild("search", "hello", cwd=cwd, home=home, env=env)
    assert (r.exit_code, r.out) == (0, "hello-gpkg  0.3  Says hello\n"), r.err
    r = guild("search", "-a", "hello", cwd=cwd, home=home, env=env)
    assert r.out == "hello-gpkg   0.3  Says hello\nhello-plain  2.0\n"
    r = guild("search", "hello", "plain", "--all", cwd=cwd, home=home, env=env)
    assert r.out == "hello-plain  2.0\n"
    assert guild("search", "nothing", cwd=cwd, home=home, env=env).out == ""
    r = guild_env(env_python, "install", "hello-gpkg", cwd=cwd, home=home, env=env)
    assert r.exit_code == 0, r.err
    assert guild_env(env_python, "packages", cwd=cwd, home=home).out == "hello-gpkg  0.3  Says hello\n"
    r = guild_env(env_python, "run", "hello-gpkg/hi:say", "-y", cwd=cwd, home=home)
    assert r.out == "hello\n"
    r = guild_env(env_python, "install", "no-such-project", cwd=cwd, home=home, env=env)
    assert r.exit_code == 1
    last = r.err.strip().splitlines()[-1]
    assert last.startswith("guild: Command '[") and "'install', '--index-url', '%s'" % index in last
    assert last.endswith("returned non-zero exit status 1.")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_search_unreachable_index(tmp_path: os.PathLike, home: str) -> None:
    url = "http://127.0.0.1:%d/simple" % _free_port()
    r = guild("search", "x", cwd=str(tmp_path), home=home, env={"GUILD_PACKAGE_INDEX": url})
    assert r.exit_code == 1
    assert r.err.startswith("guild: cannot reach package index %s: " % url) and len(r.err.splitlines()) == 1
    r = guild("search", cwd=str(tmp_path), home=home)
    assert r.exit_code == 2 and "Missing argument 'TERM...'" in r.err


def test_tensorflow_inspect_without_tensorflow(tmp_path: os.PathLike, home: str) -> None:
    try:
        import tensorflow  # noqa: F401
    except ImportError:
        pass
    else:  # pragma: no cover
        pytest.skip("TensorFlow is installed here")
    r = guild("tensorflow", "inspect", "model.ckpt", cwd=str(tmp_path), home=home)
    assert r.exit_code == 1
    assert r.err == (
        "TensorFlow is not installed.\n"
        "Refer to https://www.tensorflow.org/install/ for help installing TensorFlow on your system.\n"
    )


def test_guildai_runs_our_package_and_we_restart_its_run(tmp_path: os.PathLike, home: str, guildai: str) -> None:
    """A wheel from ``guild package``, installed with ``-t DIR``: guildai finds its models, runs it, and we restart that run."""
    tmp = str(tmp_path)
    wheel = _build(tmp, "proj", PKG_FILES, home)
    target = os.path.join(tmp, "site")
    work = os.path.join(tmp, "work")
    os.makedirs(work)
    r = guild("install", "--target", target, "--no-deps", wheel, cwd=work, home=home, env=_pkg_env())
    assert r.exit_code == 0, r.err
    assert os.path.isfile(os.path.join(target, "demo_pkg", "guild.yml"))
    env = dict(os.environ, GUILD_HOME=home, PYTHONPATH=target, COLUMNS="999")
    p = subprocess.run([guildai, "ops"], cwd=work, env=env, capture_output=True, text=True)
    assert p.stdout.split() == ["demo-pkg/m:train", "Train", "it"], p.stderr
    p = subprocess.run([guildai, "run", "demo-pkg/m:train", "x=4", "-y"], cwd=work, env=env, capture_output=True,
                       text=True)
    assert p.returncode == 0 and "x 4 helped" in p.stdout, p.stderr
    ours = {"PYTHONPATH": target}
    runs = guild("runs", cwd=work, home=home, env=ours).out
    assert "demo-pkg/m:train" in runs and "x=4" in runs
    run_id = guild("select", cwd=work, home=home, env=ours).out.strip()
    r = guild("run", "--restart", run_id, "x=5", "-y", cwd=work, home=home, env=ours)
    assert (r.exit_code, r.out) == (0, "x 5 helped\n"), r.err


@pytest.mark.parametrize("yml, err", [
    ("- package: x\n  version: 'not a version!'\n",
     "guild: invalid package version 'not a version!' in {gf}\nUse a version such as 1.0 or 0.2.1.\n"),
    ("- package: x\n  requires: 'bad req !!'\n", "guild: invalid requirement 'bad req !!' for package in {gf}\n"),
    ("- package: [x\n",
     "guild: error in {gf}: invalid YAML (line 2, column 1): expected ',' or ']', but got '<stream end>'\n"),
])
def test_package_bad_definitions(tmp_path: os.PathLike, home: str, yml: str, err: str) -> None:
    project = write_project(os.path.join(str(tmp_path), "p"), {"guild.yml": yml})
    r = guild("package", cwd=project, home=home)
    assert (r.exit_code, r.out, r.err) == (1, "", err.format(gf=os.path.join(project, "guild.yml")))
    assert os.listdir(project) == ["guild.yml"]


def test_package_warns_about_data_files_that_match_nothing(tmp_path: os.PathLike, home: str) -> None:
    project = write_project(os.path.join(str(tmp_path), "p"), {"guild.yml": "- package: x\n  data-files: [nomatch*]\n"})
    r = guild("package", cwd=project, home=home)
    assert r.exit_code == 0
    assert r.err == "WARNING: Nothing matched data file pattern 'nomatch*'\n"


def test_index_pages_json_and_html() -> None:
    """Both simple-index forms (PEP 691 JSON, PEP 503 HTML) give the same entries."""
    from luigi_guild.project import packages

    base = "http://127.0.0.1:1/simple/demo/"
    js = b'{"meta": {"api-version": "1.0"}, "files": [{"filename": "demo-1.0-py3-none-any.whl", ' \
         b'"url": "../../f/demo-1.0-py3-none-any.whl", "hashes": {}, "core-metadata": {"sha256": "ab"}}]}'
    html = b'<a href="../../f/demo-1.0-py3-none-any.whl#sha256=00" data-core-metadata="sha256=ab">' \
           b'demo-1.0-py3-none-any.whl</a>'
    want = {"filename": "demo-1.0-py3-none-any.whl", "url": "http://127.0.0.1:1/f/demo-1.0-py3-none-any.whl",
            "metadata": True}
    got_json = packages._links(js, "application/vnd.pypi.simple.v1+json", base)
    got_html = packages._links(html, "text/html", base)
    assert got_json == [want]
    assert {k: got_html[0][k] for k in want} == want
    root = packages._links(b'{"meta": {}, "projects": [{"name": "Demo"}]}', "application/vnd.pypi.simple.v1+json",
                           base)
    assert root == [{"name": "Demo"}]
    assert packages.match_terms(["DE", "mo"], ["demo"]) and not packages.match_terms(["de", "x"], ["demo", "y"])
