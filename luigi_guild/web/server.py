"""Serve the view with uvicorn: bind (a free port unless one is given), say where, stop on Ctrl-C."""

from __future__ import annotations

import socket
import sys

from luigi_guild.model.errors import GuildError

LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "[::1]", "::1"]


def bind(host: str, port: int | None) -> socket.socket:
    """A listening socket on ``host``:``port`` (port 0 or None: a free one the system picks)."""
    try:
        infos = socket.getaddrinfo(host, port or 0, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as e:
        raise GuildError("cannot use host '%s': %s" % (host, getattr(e, "strerror", None) or e)) from None
    family, kind, proto, _, addr = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
        sock.listen(128)
    except OSError as e:
        sock.close()
        raise GuildError("cannot listen on %s:%s: %s" % (host, port or 0, e.strerror or e)) from None
    sock.set_inheritable(True)
    return sock


def url_for(host: str, sock: socket.socket) -> str:
    """The URL to print: the bound port; a wildcard host shows as this machine's name, as Guild shows it."""
    port = sock.getsockname()[1]
    shown = socket.gethostname() if host in ("0.0.0.0", "::", "") else host
    if ":" in shown and not shown.startswith("["):
        shown = "[%s]" % shown
    return "http://%s:%d" % (shown, port)


def serve(app: object, host: str, port: int | None, open_browser: bool, log_requests: bool = False) -> None:
    """Serve ``app`` until interrupted (Ctrl-C or SIGTERM): prints the URL first, a blank line at the end.

    With ``log_requests``, each request is logged on stderr as a web server's
    access log line: ``CLIENT - - [TIME] "REQUEST LINE" STATUS``.
    """
    import uvicorn

    sock = bind(host, port)
    url = url_for(host, sock)
    if open_browser and not _open(url):
        sys.stdout.write("Unable to open browser window for Guild View\n")
    try:  # Ctrl-C at any moment from here on (even while uvicorn starts) is a clean stop
        sys.stdout.write("Running Guild View at %s (Type Ctrl-C to quit)\n" % url)
        sys.stdout.flush()
        config = uvicorn.Config(
            app,  # type: ignore[arg-type]
            log_level="warning",
            access_log=log_requests,
            lifespan="off",
            timeout_graceful_shutdown=2,
        )
        if log_requests:
            _log_requests()
        uvicorn.Server(config).run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    sys.stdout.write("\n")
    sys.stdout.flush()


def _log_requests() -> None:
    """Send uvicorn's access log to stderr, one line per request (its other logs stay at warnings)."""
    import logging

    from uvicorn.logging import AccessFormatter

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        AccessFormatter('%(client_addr)s - - [%(asctime)s] "%(request_line)s" %(status_code)s',
                        datefmt="%d/%b/%Y %H:%M:%S", use_colors=False)
    )
    access = logging.getLogger("uvicorn.access")
    access.handlers = [handler]
    access.setLevel(logging.INFO)
    access.propagate = False


def _open(url: str) -> bool:
    import webbrowser

    try:
        return webbrowser.open(url)
    except Exception:
        return False
