"""The viewer's web app: Starlette on uvicorn, on 127.0.0.1, GET only.

Why these two (docs/view.md says it for users): Starlette is a small, typed ASGI toolkit with no
dependencies of its own beyond anyio (already here through the SDKs), maintained by the Encode
team and under FastAPI; uvicorn is the reference ASGI server, pure Python over h11. Both are
imported only by `evalkit view`, so `evalkit --version` and every other command stay as fast.
"""

from __future__ import annotations

import json
import math
import socket
import threading
from importlib import resources
from pathlib import Path
from typing import Any

from evalkit.view import data as views

HOST = "127.0.0.1"


def static_text(name: str) -> str:
    return resources.files("evalkit.view").joinpath("static").joinpath(name).read_text(encoding="utf-8")


def page_html(embedded: dict[str, Any] | None = None, *, inline: bool = False) -> str:
    """The single page: served with its script and style beside it, or (a bundle) with both
    inlined and every view's data embedded as JSON."""
    html = static_text("index.html")
    if inline:
        html = html.replace(
            '<link rel="stylesheet" href="view.css">', "<style>\n" + static_text("view.css") + "\n</style>"
        )
        script = static_text("view.js")
        if "</script" in script.lower():  # pragma: no cover - a guard for whoever edits view.js
            raise ValueError("view.js must not contain </script")
        html = html.replace('<script src="view.js"></script>', "<script>\n" + script + "\n</script>")
    payload = "" if embedded is None else embed_json(embedded)
    return html.replace("<!--DATA-->", payload)


def embed_json(value: Any) -> str:
    """JSON in a <script type="application/json"> block: `<`, `>` and `&` escaped so no text in
    the data can close the block or open a comment (`</script>`, `<!--`)."""
    text = json.dumps(value, ensure_ascii=False, allow_nan=False, default=str)
    text = text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return f'<script type="application/json" id="evalkit-data">{text}</script>'


def _clean(value: Any) -> Any:
    """NaN and infinity (a metric over nothing) become null: JSON has no spelling for them."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def create_app(paths: list[str | Path]):
    from starlette.applications import Starlette
    from starlette.responses import HTMLResponse, JSONResponse, Response
    from starlette.routing import Route

    catalog = views.Catalog(paths)
    headers = {
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
    }

    def reply(value: Any, status: int = 200):
        return JSONResponse(_clean(value), status_code=status, headers=headers)

    def missing(what: str):
        return reply({"error": f"{what} not found"}, 404)

    async def index(request):
        return HTMLResponse(page_html(), headers=headers)

    async def asset(request):
        name = request.path_params["name"]
        kinds = {"view.js": "text/javascript; charset=utf-8", "view.css": "text/css; charset=utf-8"}
        if name not in kinds:
            return Response("not found", status_code=404)
        return Response(static_text(name), media_type=kinds[name], headers=headers)

    async def runs(request):
        return reply(views.runs_page(catalog.refresh()))

    async def grid(request):
        run = catalog.run(request.path_params["run_id"])
        return reply(views.grid_page(run)) if run is not None else missing("run")

    async def case(request):
        run = catalog.run(request.path_params["run_id"])
        if run is None:
            return missing("run")
        page = views.case_page(run, catalog.extras(run), request.path_params["case_id"])
        return reply(page) if page is not None else missing("case")

    async def diff(request):
        a, b = catalog.run(request.path_params["a"]), catalog.run(request.path_params["b"])
        if a is None or b is None:
            return missing("run")
        return reply(views.diff_page(a, b))

    routes = [
        Route("/", index), Route("/{name:str}", asset),
        Route("/api/runs", runs), Route("/api/runs/{run_id:str}", grid),
        Route("/api/runs/{run_id:str}/cases/{case_id:path}", case),
        Route("/api/diff/{a:str}/{b:str}", diff),
    ]
    return Starlette(routes=routes)


def bind(port: int = 0) -> socket.socket:
    """A listening socket on 127.0.0.1 (port 0: a free one). Listening before the server starts,
    so a client may connect at once: the connection waits in the backlog."""
    from evalkit.errors import BadInput

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((HOST, port))
    except OSError as error:
        sock.close()
        raise BadInput(f"cannot listen on {HOST}:{port}: {error.strerror or error}") from None
    sock.listen(128)
    return sock


def make_server(paths: list[str | Path]):
    import uvicorn

    config = uvicorn.Config(create_app(paths), log_level="warning", access_log=False, lifespan="off")
    return uvicorn.Server(config)


class Background:
    """The app served from a thread (tests, notebooks): `url`, then `stop()`."""

    def __init__(self, paths: list[str | Path], port: int = 0):
        self.sock = bind(port)
        self.url = f"http://{HOST}:{self.sock.getsockname()[1]}/"
        self.server = make_server(paths)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join()
        self.sock.close()

    def __enter__(self) -> Background:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
