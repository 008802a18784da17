"""The batch lane: `evalkit run SUITE --batch` sends every route whose provider has a batch
engine (OpenAI Batch API, Anthropic Message Batches) through it, at the batch price and with
no rate-limit fight; other routes run live as usual.

* `lane`: the orchestration (submit, poll, collect, resubmit, rows, cache);
* `openai_batch`, `anthropic_batch`: one adapter per provider (`adapters` holds their
  common shape and the splitting into batches under the providers' limits);
* `state`: `batches.json` in the run directory, written the moment a batch exists, so a
  resumed run collects what was submitted instead of paying twice;
* `status`: what `evalkit batch status RUN_DIR` shows.

Nothing here imports an SDK at module level.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

#: the batch state file in the run directory
STATE_FILE = "batches.json"


#: what a setting left as None means on a new run
DEFAULTS = {"poll_s": 30.0, "resubmit": 1, "max_requests": None}


@dataclass
class BatchOptions:
    """Settings of the batch lane (`--batch`, `--batch-poll`, `--batch-resubmit`). A setting
    left as None takes the value the run started with (a resumed run), else the default."""

    poll_s: float | None = None  # seconds between two looks at the open batches (default 30)
    resubmit: int | None = (
        None  # times an expired or errored request is sent again before it becomes an error row (default 1)
    )
    max_requests: int | None = None  # requests per batch, below the provider's own limit

    def to_dict(self) -> dict:
        return asdict(self)

    def resolved(self, stored: dict | None = None) -> BatchOptions:
        """Every setting filled in: this object's, else `stored` (batches.json), else DEFAULTS."""
        values: dict[str, Any] = dict(DEFAULTS)
        values.update({k: v for k, v in (stored or {}).items() if k in DEFAULTS and v is not None})
        values.update({k: v for k, v in asdict(self).items() if v is not None})
        return BatchOptions(**values)


__all__ = ["BatchOptions", "STATE_FILE"]
