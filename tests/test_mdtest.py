"""Tests for the Markdown doc-test plugin (``mdtest.py``), run with pytester."""

from __future__ import annotations

import textwrap

import pytest

pytest_plugins = ["pytester"]


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    """A pytester project whose spec folder is ``./spec`` (absent until created)."""
    pytester.makeini("[pytest]\nmdtest_spec_dir = spec\n")
    pytester.mkdir("tests")
    pytester.mkdir("tests/docs")
    return pytester


def doc(pytester: pytest.Pytester, name: str, text: str, folder: str = "tests/docs") -> None:
    """Write a Markdown document (dedented) into ``folder``."""
    (pytester.path / folder / name).write_text(textwrap.dedent(text))


# Plugins the inner runs don't need; hypothesis alone costs ~1s per in-process run.
QUIET_PLUGINS = ("-p", "no:hypothesispytest", "-p", "no:cacheprovider")


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """Run pytest in-process on ``pytester``'s project with the plugin enabled."""
    return pytester.runpytest("-p", "mdtest", *QUIET_PLUGINS, "-rs", *args)


def test_passing_doc(project: pytest.Pytester) -> None:
    doc(
        project,
        "ok.md",
        """\
        # Title

            >>> run("echo hello")
            hello

            >>> run("echo out; sh -c 'exit 3'")
            out
            <exit 3>

            >>> quiet("echo hidden")
        """,
    )
    result = run(project, "-v")
    result.assert_outcomes(passed=1, skipped=2)
    result.stdout.fnmatch_lines(["*docs/ok.md PASSED*"])


def test_failing_doc_shows_diff(project: pytest.Pytester) -> None:
    doc(
        project,
        "bad.md",
        """\
        Some prose.

            >>> run("echo goodbye")
            hello

            >>> run("printf 'a\\\\nb\\\\nc\\\\n'")
            a
            x
            c
        """,
    )
    result = run(project)
    result.assert_outcomes(failed=1, skipped=2)
    result.stdout.fnmatch_lines(
        [
            "*/tests/docs/bad.md:3",
            '>>> run("echo goodbye")',
            "Expected:",
            "    hello",
            "Got:",
            "    goodbye",
        ]
    )
    result.stdout.fnmatch_lines(["*bad.md:6", "Differences (unified diff*", "*-x", "*+b"])
    assert "mdtest.py" not in result.stdout.str()


def test_question_marks_match_leading_output(project: pytest.Pytester) -> None:
    doc(
        project,
        "q.md",
        """\
            >>> run("echo one; echo two; echo three; exit 1")
            ???
            three
            <exit 1>
        """,
    )
    run(project).assert_outcomes(passed=1, skipped=2)


@pytest.mark.parametrize(
    ("command", "expected", "passes"),
    [
        ("echo hi", "hi", True),
        ("echo hi", "hi\n<exit 0>", True),
        ("true", "<exit 0>", True),
        ("true", "", False),
        ("echo hi; exit 2", "hi", False),
    ],
)
def test_exit_0_rules(project: pytest.Pytester, command: str, expected: str, passes: bool) -> None:
    want = "".join("    " + line + "\n" for line in expected.splitlines())
    (project.path / "tests/docs/e.md").write_text(f"    >>> run({command!r})\n{want}")
    outcomes = {"passed": 1} if passes else {"failed": 1}
    run(project).assert_outcomes(skipped=2, **outcomes)


def test_unknown_fixture_skips(project: pytest.Pytester) -> None:
    doc(
        project,
        "needs.md",
        """\
        <!-- fixtures: no_such_fixture -->

            >>> run("echo never")
            nope
        """,
    )
    result = run(project)
    result.assert_outcomes(skipped=3)
    result.stdout.fnmatch_lines(["*fixture not available yet: no_such_fixture*"])


def test_fixture_env_and_spec_mapping(project: pytest.Pytester) -> None:
    project.makeconftest(
        """
        import pytest

        SPEC_DOC_FIXTURES = {"needed.md": ["greeting"]}

        @pytest.fixture
        def greeting():
            yield {"GREETING": "hi", "GUILD_HOME": "/custom/home"}
        """
    )
    doc(
        project,
        "front.md",
        """\
        ---
        fixtures: [greeting]
        ---

            >>> run("echo $GREETING $GUILD_HOME")
            hi /custom/home
        """,
    )
    project.mkdir("spec")
    doc(project, "needed.md", '    >>> run("echo $GREETING")\n    hi\n', folder="spec")
    result = run(project, "-v")
    result.assert_outcomes(passed=2, skipped=1)  # spec/remote-status.md is absent
    result.stdout.fnmatch_lines(["*spec/needed.md PASSED*"])


def test_spec_docs_skip_when_folder_missing(project: pytest.Pytester) -> None:
    result = run(project, "-v")
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines(["*spec/needed.md SKIPPED*", "*spec/remote-status.md SKIPPED*"])
    result.stdout.fnmatch_lines(["*spec document */spec/needed.md not found*"])


def test_documents_are_isolated(project: pytest.Pytester) -> None:
    first = """\
        >>> home = run_capture("echo $GUILD_HOME")
        >>> os.path.isdir(home), os.path.basename(home).startswith("guild-home-")
        (True, True)
        >>> write("home.txt", home)
        >>> cd(mkdtemp())
        >>> os.environ["LEAK"] = "1"
    """
    second = """\
        >>> "LEAK" in os.environ, os.path.exists(open("home.txt").read())
        (False, False)
    """
    doc(project, "a.md", first)
    doc(project, "b.md", second)
    run(project).assert_outcomes(passed=2, skipped=2)


def test_timeout_kills_command(project: pytest.Pytester) -> None:
    doc(
        project,
        "slow.md",
        """\
            >>> run("echo started; sleep 30", timeout=0.5)
            started
            <timeout after 0.5s>
        """,
    )
    run(project).assert_outcomes(passed=1, skipped=2)
