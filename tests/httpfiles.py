"""A real HTTP server on 127.0.0.1 serving a directory of files, for ``guild download`` tests (pytest plugin module).

Fixture:

``http_files`` (function)
    Starts :class:`http.server.ThreadingHTTPServer` on a free loopback port
    in a thread, serving a fresh directory that holds ``hello.txt``
    (``hello\\n``) and ``data file.bin`` (256 bytes 0..255). Yields
    ``{"HTTP_URL": "http://127.0.0.1:PORT", "HTTP_DIR": dir}`` (doc tests get
    these as environment variables); the server is shut down afterwards.
    Every request is counted in ``HTTP_DIR/requests.log`` (one path a line).
"""

from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path
from typing import Any, Iterator

import pytest

__all__ = ["http_files"]


class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        with open(Path(self.directory) / "requests.log", "a") as f:
            f.write(self.path + "\n")


@pytest.fixture
def http_files(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    root = tmp_path_factory.mktemp("http-files")
    (root / "hello.txt").write_text("hello\n")
    (root / "data file.bin").write_bytes(bytes(range(256)))
    handler = functools.partial(_Handler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield {"HTTP_URL": "http://127.0.0.1:%d" % server.server_address[1], "HTTP_DIR": str(root)}
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
