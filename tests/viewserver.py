"""A real ``guild view`` server in a subprocess, for the view's HTTP and browser tests."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import time
from typing import Any

URL_RE = re.compile(r"Running Guild View at (http://\S+) \(Type Ctrl-C to quit\)")


class ViewServer:
    """``python -m luigi_guild view -n ARGS`` with ``GUILD_HOME=home``; :meth:`stop` sends Ctrl-C (SIGINT)."""

    def __init__(self, home: str, *args: str, cwd: str | None = None):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "luigi_guild", "view", "-n", *args],
            cwd=cwd or home,
            env=dict(os.environ, GUILD_HOME=home),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # SIGINT reaches it even when pytest runs in the background
        )
        assert self.proc.stdout is not None
        self.first_line = self.proc.stdout.readline()
        m = URL_RE.match(self.first_line)
        if not m:
            self.proc.kill()
            _, err = self.proc.communicate()
            raise AssertionError("guild view did not start: %r %r" % (self.first_line, err))
        self.url = m.group(1)
        self.port = int(self.url.rsplit(":", 1)[1])

    def request(self, path: str, method: str = "GET", headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        """One raw HTTP request (the path is sent exactly as given)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(method, path, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()

    def json(self, path: str) -> Any:
        status, _, body = self.request(path)
        assert status == 200, (path, status, body)
        return json.loads(body)

    def stop(self) -> tuple[int, str, str]:
        """Ctrl-C: returns (exit code, rest of stdout, stderr)."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGINT)
        out, err = self.proc.communicate(timeout=20)
        return self.proc.returncode, out, err

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()

    def __enter__(self) -> "ViewServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()


def wait_for(pred: Any, timeout: float = 15.0, interval: float = 0.1) -> Any:
    """Poll ``pred()`` until it returns something true; that value (AssertionError on timeout)."""
    deadline = time.time() + timeout
    while True:
        val = pred()
        if val:
            return val
        if time.time() > deadline:
            raise AssertionError("timed out waiting for %r" % pred)
        time.sleep(interval)
