"""``guild download`` and guildai 0.9.0 share the resource cache: each finds what the other downloaded."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def _run(cmd: list[str], home: Path) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env={**os.environ, "GUILD_HOME": str(home)})


def test_each_tool_uses_the_others_download(guildai: str, http_files: dict[str, str], tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    ours = [sys.executable, "-m", "luigi_guild", "download"]
    url = http_files["HTTP_URL"] + "/hello.txt"
    first = _run(ours + [url], home)
    assert first.returncode == 0, first.stderr
    theirs = _run([guildai, "download", url], home)
    assert theirs.returncode == 0, theirs.stderr
    assert theirs.stdout == first.stdout  # same digest, same path
    assert "Using cached file" in theirs.stderr

    url2 = http_files["HTTP_URL"] + "/data%20file.bin"
    theirs = _run([guildai, "download", url2], home)
    assert theirs.returncode == 0, theirs.stderr
    again = _run(ours + [url2], home)
    assert again.returncode == 0, again.stderr
    assert again.stdout == theirs.stdout
    assert again.stderr.startswith("Using cached file ")
    requests = (Path(http_files["HTTP_DIR"]) / "requests.log").read_text().splitlines()
    assert requests == ["/hello.txt", "/data%20file.bin"]  # each file fetched once
