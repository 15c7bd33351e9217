"""Run Markdown documents as doc tests (pytest plugin).

Collection
    The docs directory (ini ``mdtest_docs``, default ``tests/docs``) is
    collected as one suite: one item per ``*.md`` file there, named
    ``docs/<file>``, plus one item per spec document (ini ``mdtest_spec_docs``,
    default ``needed.md remote-status.md``) found in the spec directory (ini
    ``mdtest_spec_dir``, default ``../shared/spec``; both relative to the
    rootdir), named ``spec/<file>``. A spec item whose document is missing
    (e.g. no spec directory in this checkout) is skipped, not failed.

Examples
    Indented ``>>>`` examples are stdlib doctests, checked with ELLIPSIS and
    NORMALIZE_WHITESPACE after stripping ANSI escapes from the actual output.
    A trailing ``<exit 0>`` line may be left out of the expected output unless
    the command printed nothing. An expected block starting with ``???`` is
    read as starting with ``...``. Document globals are the public methods of
    :class:`Harness` (``run``, ``quiet``, ``use_project``, ...) plus ``os``,
    ``path`` (``os.path.join``), ``sleep`` and ``getfixture``.

Fixtures (the contract for fixture authors)
    A document requests pytest fixtures by name: our own documents in a
    leading HTML comment ``<!-- fixtures: a, b -->`` or front matter line
    ``fixtures: [a, b]``; verbatim spec documents through a
    ``SPEC_DOC_FIXTURES = {"remote-status.md": ["a"]}`` dict in any conftest.
    Define them in ``tests/conftest.py`` or a plugin (a conftest inside the
    docs directory is not read). They are set up before the document with
    their usual scope; if one is not defined, the document is skipped,
    naming it. A fixture whose
    value is a mapping adds those environment variables (values passed through
    ``str``) to every command of the document; anything else is only
    reachable through ``getfixture(name)``.

Environment
    Each document starts in the invocation's cwd with ``os.environ`` plus
    ``HARNESS_ENV``, the interpreter's bin directory first on ``PATH``, the
    fixture variables, and a fresh temporary ``GUILD_HOME`` (unless a fixture
    supplied one). ``use_project`` switches to another fresh home. Cwd and
    ``os.environ`` are restored and temp dirs removed after each document.
"""

from __future__ import annotations

import contextlib
import doctest
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import traceback
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from _pytest.fixtures import TopRequest

SAMPLES = Path(__file__).resolve().parent / "samples"
DEFAULT_TIMEOUT = 300.0
HARNESS_ENV = {
    "COLUMNS": "999",
    "SYNC_RUN_OUTPUT": "1",
    "NO_PIP_FREEZE": "1",
    "NO_VCS_COMMIT": "1",
    "PYTHONDONTWRITEBYTECODE": "1",
}
OPTIONFLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE | doctest.REPORT_UDIFF

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_EXIT_0 = re.compile(r"\n<exit 0>\n?\Z")
_HEADER = re.compile(r"\A\s*(?:---\n(.*?)\n---|<!--(.*?)-->)", re.DOTALL)
_FIXTURES = re.compile(r"^\s*fixtures:\s*\[?([^\]\n]*)", re.MULTILINE)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("mdtest_docs", "Directory of Markdown doc tests", default="tests/docs")
    parser.addini("mdtest_spec_dir", "Directory of verbatim spec documents", default="../shared/spec")
    parser.addini("mdtest_spec_docs", "Spec documents to run", type="args", default=["needed.md", "remote-status.md"])


def pytest_collect_directory(path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if path == parent.config.rootpath / parent.config.getini("mdtest_docs"):
        return MarkdownSuite.from_parent(parent, path=path)
    return None


def header_fixtures(text: str) -> list[str]:
    """Fixture names from a document's leading HTML comment or front matter."""
    m = _HEADER.match(text)
    if not m:
        return []
    found = _FIXTURES.search(m.group(1) or m.group(2))
    return [name for name in re.split(r"[\s,]+", found.group(1)) if name] if found else []


def spec_doc_fixtures(config: pytest.Config, doc: str) -> list[str]:
    """Fixture names mapped to spec document ``doc`` by any ``SPEC_DOC_FIXTURES``."""
    names: list[str] = []
    for plugin in config.pluginmanager.get_plugins():
        names.extend(getattr(plugin, "SPEC_DOC_FIXTURES", {}).get(doc, []))
    return names


class MarkdownSuite(pytest.Directory):
    """The docs directory: our own documents plus the spec documents."""

    def collect(self) -> Iterable[MarkdownItem]:
        for doc in sorted(self.path.glob("*.md")):
            text = doc.read_text(encoding="utf-8")
            yield MarkdownItem.from_parent(
                self, name=f"{self.path.name}/{doc.name}", path=doc, fixtures=header_fixtures(text)
            )
        spec_dir = (self.config.rootpath / self.config.getini("mdtest_spec_dir")).resolve()
        for name in self.config.getini("mdtest_spec_docs"):
            item = MarkdownItem.from_parent(
                self, name=f"spec/{name}", path=spec_dir / name, fixtures=spec_doc_fixtures(self.config, name)
            )
            if not item.path.is_file():
                item.add_marker(pytest.mark.skip(reason=f"spec document {item.path} not found"))
            yield item


class MarkdownFailure(Exception):
    """Raised by an item with one formatted report per failed example."""


class MarkdownItem(pytest.Item):
    """One Markdown document, run with the fixtures it requests.

    Fixture support mirrors pytest's own ``DoctestItem``: requested names
    become a ``usefixtures`` mark and a ``TopRequest`` fills them at setup.
    """

    def __init__(self, *, fixtures: Sequence[str] = (), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.requested = list(dict.fromkeys(fixtures))
        if self.requested:
            self.add_marker(pytest.mark.usefixtures(*self.requested))
        self.obj = None
        self._fixtureinfo = self.session._fixturemanager.getfixtureinfo(node=self, func=None, cls=None)
        self.fixturenames = self._fixtureinfo.names_closure
        self.funcargs: dict[str, object] = {}
        self._request = TopRequest(self, _ispytest=True)  # type: ignore[arg-type]
        missing = [n for n in self.requested if n not in self._fixtureinfo.name2fixturedefs]
        if missing:
            self.add_marker(pytest.mark.skip(reason="fixture not available yet: " + ", ".join(missing)))

    def setup(self) -> None:
        self._request._fillfixtures()

    def fixture_env(self) -> dict[str, str]:
        """Environment variables contributed by mapping-valued fixtures."""
        env: dict[str, str] = {}
        for name in self.requested:
            value = self.funcargs[name]
            if isinstance(value, Mapping):
                env.update({str(k): str(v) for k, v in value.items()})
        return env

    def runtest(self) -> None:
        text = self.path.read_text(encoding="utf-8")
        runner = DocRunner()
        with Harness(self.fixture_env()) as harness:
            globs = harness.globals(getfixture=self._request.getfixturevalue)
            test = doctest.DocTestParser().get_doctest(text, globs, self.name, str(self.path), 0)
            for example in test.examples:
                if example.want.startswith("???"):
                    example.want = "..." + example.want[3:]
            failed, attempted = runner.run(test)
        if failed:
            raise MarkdownFailure([f"{failed} of {attempted} examples failed", *runner.reports])

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, MarkdownFailure):
            return "\n\n".join(excinfo.value.args[0])
        return str(super().repr_failure(excinfo, style=style))

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"[mdtest] {self.name}"


def normalize(want: str, got: str) -> tuple[str, str]:
    """Apply the ANSI and ``<exit 0>`` rules to expected and actual output."""
    return _EXIT_0.sub("\n", want), _EXIT_0.sub("\n", _ANSI.sub("", got))


class Checker(doctest.OutputChecker):
    """Doctest checker that compares normalized output."""

    def check_output(self, want: str, got: str, optionflags: int) -> bool:
        return super().check_output(*normalize(want, got), optionflags)

    def output_difference(self, example: doctest.Example, got: str, optionflags: int) -> str:
        want, got = normalize(example.want, got)
        return super().output_difference(doctest.Example(example.source, want), got, optionflags)


class DocRunner(doctest.DocTestRunner):
    """Doctest runner that collects a readable report per failed example."""

    def __init__(self) -> None:
        super().__init__(checker=Checker(), verbose=False, optionflags=OPTIONFLAGS)
        self.reports: list[str] = []

    def _where(self, test: doctest.DocTest, example: doctest.Example) -> str:
        source = "".join(("... " if i else ">>> ") + line for i, line in enumerate(example.source.splitlines(True)))
        return f"{test.filename}:{example.lineno + 1}\n{source}"

    def report_failure(self, out: Any, test: doctest.DocTest, example: doctest.Example, got: str) -> None:
        diff = self._checker.output_difference(example, got, self.optionflags)  # type: ignore[attr-defined]
        self.reports.append(self._where(test, example) + diff)

    def report_unexpected_exception(
        self, out: Any, test: doctest.DocTest, example: doctest.Example, exc_info: Any
    ) -> None:
        error = "".join(traceback.format_exception_only(exc_info[0], exc_info[1])).rstrip()
        self.reports.append(self._where(test, example) + "Exception raised:\n" + textwrap.indent(error, "    "))


class Harness:
    """Per-document state and the helper functions documents call."""

    def __init__(self, fixture_env: Mapping[str, str]) -> None:
        self._fixture_env = dict(fixture_env)
        self._saved_cwd = os.getcwd()
        self._saved_env = dict(os.environ)
        self._tmp = tempfile.mkdtemp(prefix="mdtest-")

    def __enter__(self) -> Harness:
        os.environ.update(HARNESS_ENV)
        os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
        os.environ["GUILD_HOME"] = self.mkdtemp("guild-home-")
        os.environ.update(self._fixture_env)
        return self

    def __exit__(self, *exc: object) -> None:
        os.chdir(self._saved_cwd)
        os.environ.clear()
        os.environ.update(self._saved_env)
        shutil.rmtree(self._tmp, ignore_errors=True)

    def globals(self, **extra: Any) -> dict[str, Any]:
        """The namespace a document's examples run in."""
        names = "run quiet run_capture use_project set_guild_home cd sample mkdtemp write cat touch rm find"
        helpers = {name: getattr(self, name) for name in names.split()}
        return {"os": os, "path": os.path.join, "sleep": time.sleep, **helpers, **extra}

    def _exec(self, cmd: str, timeout: float, cwd: str | None, env: Mapping[str, str] | None) -> tuple[str, str]:
        """Run ``cmd`` in its own process group; return output and exit marker."""
        proc = subprocess.Popen(
            ["/bin/sh", "-c", "set -eu && " + cmd],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env={**os.environ, **env} if env else None,
            start_new_session=True,
        )
        try:
            out, _ = proc.communicate(timeout=timeout)
            status = f"<exit {proc.returncode}>"
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
            status = f"<timeout after {timeout:g}s>"
        return out.decode("latin-1").strip(), status

    def run(
        self,
        cmd: str,
        quiet: bool = False,
        ignore: str | Sequence[str] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        """Print the command's output (if any) and ``<exit N>``; nothing if quiet and 0."""
        out, status = self._exec(cmd, timeout, cwd, env)
        if ignore:
            patterns = [ignore] if isinstance(ignore, str) else list(ignore)
            out = "\n".join(line for line in out.splitlines() if not any(re.search(p, line) for p in patterns))
        if quiet and status == "<exit 0>":
            return
        if out:
            print(out)
        print(status)

    def quiet(self, cmd: str, **kwargs: Any) -> None:
        """``run`` that prints nothing on success."""
        self.run(cmd, quiet=True, **kwargs)

    def run_capture(
        self,
        cmd: str,
        timeout: float = DEFAULT_TIMEOUT,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> str:
        """Return the command's stripped output; raise if it does not exit 0."""
        out, status = self._exec(cmd, timeout, cwd, env)
        if status != "<exit 0>":
            raise RuntimeError(f"{cmd!r} failed with {status}:\n{out}")
        return out

    def use_project(self, name: str, guild_home: str | None = None) -> None:
        """Change to a sample project (or absolute dir) with a fresh Guild home."""
        self.cd(name if os.path.isabs(name) else self.sample("projects", name))
        self.set_guild_home(guild_home or self.mkdtemp("guild-home-"))

    def set_guild_home(self, path: str) -> None:
        """Use ``path`` as ``GUILD_HOME`` for later commands."""
        os.environ["GUILD_HOME"] = path

    def cd(self, path: str) -> None:
        os.chdir(os.path.expanduser(path))

    def sample(self, *parts: str) -> str:
        return os.path.join(SAMPLES, *parts)

    def mkdtemp(self, prefix: str = "tmp-") -> str:
        """A temp directory removed after the document."""
        return tempfile.mkdtemp(prefix=prefix, dir=self._tmp)

    def write(self, filename: str, s: str) -> None:
        Path(filename).write_text(s)

    def cat(self, filename: str) -> None:
        text = Path(filename).read_text()
        print(text, end="" if text.endswith("\n") or not text else "\n")

    def touch(self, filename: str) -> None:
        Path(filename).touch()

    def rm(self, filename: str) -> None:
        """Remove a file or a directory tree."""
        if os.path.isdir(filename) and not os.path.islink(filename):
            shutil.rmtree(filename)
        else:
            os.remove(filename)

    def find(self, root: str) -> None:
        """Print the files under ``root`` relative to it, sorted, or ``<empty>``."""
        paths = sorted(str(p.relative_to(root)) for p in Path(root).rglob("*") if not p.is_dir())
        print("\n".join(paths) if paths else "<empty>")
