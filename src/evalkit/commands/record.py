"""evalkit record RUN_DIR --out FILE: a run's answers and their fingerprints, ready to replay."""

from __future__ import annotations

import sys
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("record", help="write a run's answers as a recording to commit and replay",
                       description="Keep what `evalkit run --replay` needs of a run: each answer, the model the server "
                                   "reported, tokens, latency, the request fingerprint and where the answer came from. "
                                   "Replaying the recording of a live run for an unchanged suite is evidence the gate "
                                   "accepts; after a prompt, model or example change, the gate names the stale routes.")
    p.add_argument(
        "run_dir", type=Path, metavar="RUN_DIR", help="the run directory (reports/SUITE/latest names the newest)"
    )
    p.add_argument("--out", type=Path, required=True, metavar="FILE", help="the recording (JSONL) to write")
    p.set_defaults(handler=handle)


def handle(args) -> int:
    from evalkit.recording import record_run

    done = record_run(args.run_dir, args.out)
    kinds = "; ".join(f"{route}: " + ", ".join(f"{n} {kind}" for kind, n in counts.items())
                      for route, counts in done["provenance"].items())
    print(f"recorded {done['lines']} answers into {done['out']} ({kinds})")
    if done["errors"]:
        print(f"evalkit: warning: {done['errors']} of them are error rows, replayed as errors: "
              f"finish the run with --resume RUN_DIR --retry-errors before recording", file=sys.stderr)
    return 0
