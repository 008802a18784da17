"""The `evalkit` command: a thin shell over the Python API.

Each subcommand lives in `evalkit.commands.NAME` with `register(subparsers)` (argparse only,
so start-up stays fast), which sets a `handler(args) -> int`. Exceptions become exit codes: EvalkitError
subclasses carry theirs (2 bad input, 3 incomplete); no traceback unless --debug.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from evalkit import __version__
from evalkit.errors import EvalkitError

COMMANDS = [
    "run",
    "render",
    "record",
    "score",
    "schema",
    "compare",
    "gate",
    "import_cases",
    "ft",
    "packet",
    "batch",
    "view",
]


#: commands whose module registers nothing else: `evalkit run ...` builds only its own parser,
#: without importing the other commands' modules (a run's start-up delays its first call)
ALONE = frozenset({"run"})


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command, or of `command` alone when it is one of ALONE."""
    parser = argparse.ArgumentParser(
        prog="evalkit", description="Eval-first harness: base, prompted, RAG and fine-tuned routes on one case suite."
    )
    parser.add_argument("--version", action="version", version=f"evalkit {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in [command] if command in ALONE else COMMANDS:
        importlib.import_module(f"evalkit.commands.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; `argv` None means the command line (the `evalkit` program)."""
    if argv is None:
        # evalkit's numpy work (TF-IDF, bootstrap) never multiplies matrices, but OpenBLAS starts
        # a spinning thread per core when numpy loads: a tenth of a second of CPU for nothing
        import os

        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
        sys.stdout = ClosedPipeGuard(sys.stdout)
    try:
        return _main(argv)
    finally:
        if argv is None:
            _before_exit()


class ClosedPipeGuard:
    """Standard output that ends quietly when the reader goes away (`evalkit gate ... | head -1`):
    the first write to a closed pipe points the descriptor at /dev/null and later output is
    dropped, so the command finishes its work and exits with its own code, without a traceback."""

    def __init__(self, stream):
        self._stream = stream
        self.closed_pipe = False

    def write(self, text: str) -> int:
        if not self.closed_pipe:
            try:
                return self._stream.write(text)
            except BrokenPipeError:
                self._drop()
        return len(text)

    def flush(self) -> None:
        if not self.closed_pipe:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self._drop()

    def _drop(self) -> None:
        import os

        self.closed_pipe = True
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, self._stream.fileno())  # the interpreter's last flush then succeeds too
        finally:
            os.close(devnull)

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


def _before_exit() -> None:
    """The process ends next: keep the interpreter's last garbage collection from walking
    every object the SDKs and numpy created (about 0.25 s after `import openai`). Frozen
    objects are still freed by the operating system; files and the cache are closed already."""
    import gc

    gc.freeze()


def _main(argv: list[str] | None) -> int:
    words = sys.argv[1:] if argv is None else argv
    parser = build_parser(words[0] if words else None)
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        return int(args.handler(args) or 0)
    except EvalkitError as error:
        if args.debug:
            raise
        print(f"evalkit: error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("evalkit: interrupted", file=sys.stderr)
        return 3
    except Exception as error:  # noqa: BLE001 - the last line of defence
        if args.debug:
            raise
        print(
            f"evalkit: internal error: {type(error).__name__}: {error} (rerun with --debug for the traceback)",
            file=sys.stderr,
        )
        return 1
