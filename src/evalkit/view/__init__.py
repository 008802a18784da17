"""`evalkit view`: a read-only run browser (Runs, Grid, Case, Diff).

`evalkit.view.data` turns run directories into plain JSON-ready dicts; `evalkit.view.app`
serves them on 127.0.0.1 (Starlette on uvicorn, loaded only by this command);
`evalkit.view.bundle` writes the same views as one static page that works from `file://`.
The page itself (`static/`) is plain JavaScript that builds every element with
`textContent`: nothing from a run is ever parsed as HTML.
"""
