"""evalkit view [REPORTS_DIR | RUN_DIR ...]: browse runs in a local web app, or write it as static files."""

from __future__ import annotations

from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser(
        "view",
        help="browse runs case by case in a local web app (or --bundle it as static files)",
        description="Serve a read-only run browser on 127.0.0.1: Runs (with each route's headline metric "
        "across runs), Grid (cases x routes, filters, search), Case (the request as sent, the "
        "raw and parsed output, field scores, retrieved chunks, every route side by side) and "
        "Diff (two runs case by case). Needs the 'view' extra: pip install 'evalkit-harness[view]'.",
    )
    p.add_argument("paths", nargs="*", type=Path, metavar="REPORTS_DIR | RUN_DIR",
                   help="run directories, or folders holding them (default: reports)")
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one, printed)")
    p.add_argument("--open", action="store_true", help="open the page in the default browser")
    p.add_argument(
        "--bundle",
        type=Path,
        metavar="OUT_DIR",
        help="write OUT_DIR/index.html, the same views as one static page that opens from file:// "
        "(for CI artifacts), and exit",
    )
    p.set_defaults(handler=handle)


def handle(args) -> int:
    paths = args.paths or [Path("reports")]
    if args.bundle is not None:
        from evalkit.view.bundle import write_bundle

        index = write_bundle(args.bundle, paths)
        print(index)
        return 0
    return serve(paths, args.port, args.open)


def serve(paths, port: int, open_browser: bool) -> int:
    from evalkit.errors import BadInput
    from evalkit.view.data import find_run_dirs

    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        raise BadInput("evalkit view needs the 'view' extra: pip install 'evalkit-harness[view]'") from None
    from evalkit.view.app import bind, make_server

    found = find_run_dirs(paths)
    sock = bind(port)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/"
    print(f"evalkit view: {len(found)} run(s) at {url} (Ctrl-C stops)", flush=True)
    if open_browser:
        import webbrowser

        webbrowser.open(url)
    try:
        make_server(paths).run(sockets=[sock])
    finally:
        sock.close()
    return 0
