"""The view's web app (Starlette): the pages, their static files and the read-only JSON endpoints.

Routes (GET only; any other method is refused with 405, so no request can
change a run):

- ``/``: the runs table and charts; ``/run/<id>``: one run's page; ``/static/...``
- ``/api/runs``: one row per run (``guild compare``'s core columns, flags, last scalars)
- ``/api/runs/<id>``: the run page's data; ``/api/runs/<id>/scalars``: each scalar's series
- ``/api/runs/<id>/output?offset=N``: output from byte N on
- ``/api/runs/<id>/files/<path>``: a run file as is (``?download=1`` to save it);
  ``/api/runs/<id>/preview/<path>``: its text, when it is text
"""

from __future__ import annotations

import os
from typing import IO, Any, Iterator

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from luigi_guild import __version__
from luigi_guild.store.rundir import Run
from luigi_guild.web import data as viewdata
from luigi_guild.web import scalars as runscalars

STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
PREVIEW_LIMIT = 512 * 1024
_NO_STORE = {"Cache-Control": "no-store"}
# A run file is data, never a page of this site: no scripts, no sniffing a type.
_FILE_HEADERS = {"Content-Security-Policy": "sandbox", "X-Content-Type-Options": "nosniff", **_NO_STORE}


def create_app(source: viewdata.RunSource, allowed_hosts: list[str] | None = None) -> Starlette:
    """The view app over the runs ``source`` names.

    Endpoints are plain functions: Starlette runs them in its thread pool, so
    reading run files never blocks the server's event loop.

    ``allowed_hosts`` limits the ``Host`` header (a page on another site
    cannot reach a loopback-bound view through DNS rebinding); None allows any.
    """

    def run_or_404(request: Request) -> Run:
        run = source.find(request.path_params["run_id"])
        if run is None:
            raise _NotFound("no run %s" % request.path_params["run_id"])
        return run

    def runs(request: Request) -> Response:
        return _json(viewdata.table_rows(source.runs()))

    def run_detail(request: Request) -> Response:
        return _json(viewdata.run_detail(run_or_404(request)))

    def run_scalars(request: Request) -> Response:
        run = run_or_404(request)
        try:
            series = runscalars.series(run)
        except (OSError, ValueError):
            series = {}
        return _json({tag: [[s, v] for s, v in points] for tag, points in series.items()})

    def run_output(request: Request) -> Response:
        run = run_or_404(request)
        try:
            offset = int(request.query_params.get("offset", "0"))
        except ValueError:
            return _error(400, "offset must be a number")
        return _json(viewdata.read_output(run, offset))

    def run_file(request: Request) -> Response:
        f, size, media = _open(run_or_404(request), request.path_params["path"])
        headers = dict(_FILE_HEADERS, **{"Content-Length": str(size)})
        if request.query_params.get("download"):
            name = os.path.basename(request.path_params["path"]).replace('"', "")
            headers["Content-Disposition"] = 'attachment; filename="%s"' % name
        elif media.startswith("text/") or media in ("application/json", "application/xml", "image/svg+xml"):
            media = "text/plain; charset=utf-8"  # shown as text, never run as a page
        return StreamingResponse(_chunks(f, size), media_type=media, headers=headers)

    def run_preview(request: Request) -> Response:
        f, size, _ = _open(run_or_404(request), request.path_params["path"])
        with f:
            head = f.read(PREVIEW_LIMIT)
        if not viewdata.is_text(head[:8192]):
            return _json({"text": None, "size": size})
        return _json({"text": head.decode("utf-8", "replace"), "size": size, "truncated": size > len(head)})

    def config(request: Request) -> Response:
        return _json({"cwd": os.getcwd(), "version": __version__})

    def index_page(request: Request) -> Response:
        return FileResponse(os.path.join(STATIC_DIR, "index.html"), headers=_NO_STORE)

    def run_page(request: Request) -> Response:
        return FileResponse(os.path.join(STATIC_DIR, "run.html"), headers=_NO_STORE)

    async def not_found(request: Request, exc: Exception) -> Response:
        return _error(404, str(exc) or "not found")

    async def refused(request: Request, exc: Exception) -> Response:
        return _error(403, "refused: path is not a file inside the run directory")

    routes = [
        Route("/", index_page),
        Route("/run/{run_id}", run_page),
        Route("/api/config", config),
        Route("/api/runs", runs),
        Route("/api/runs/{run_id}", run_detail),
        Route("/api/runs/{run_id}/scalars", run_scalars),
        Route("/api/runs/{run_id}/output", run_output),
        Route("/api/runs/{run_id}/files/{path:path}", run_file),
        Route("/api/runs/{run_id}/preview/{path:path}", run_preview),
        Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="static"),
    ]
    middleware = [Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts)] if allowed_hosts else []
    return Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={_NotFound: not_found, viewdata.FileRefused: refused, viewdata.FileMissing: not_found},
    )


class _NotFound(Exception):
    pass


def _open(run: Run, rel: str) -> tuple[IO[bytes], int, str]:
    return viewdata.open_run_file(run, rel)


def _chunks(f: IO[bytes], size: int) -> Iterator[bytes]:
    """The file's first ``size`` bytes (its size when opened), in pieces; closes it."""
    with f:
        left = size
        while left > 0:
            block = f.read(min(64 * 1024, left))
            if not block:
                break
            left -= len(block)
            yield block


def _json(val: Any) -> Response:
    return JSONResponse(val, headers=_NO_STORE)


def _error(status: int, message: str) -> Response:
    return JSONResponse({"error": message}, status_code=status, headers=_NO_STORE)
