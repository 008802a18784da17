"""`batches.json`: every batch the lane submitted for a run, written the moment it exists.

    {"version": 1, "settings": {"poll_s", "resubmit", "max_requests"},
     "batches": [{"id", "provider", "route", "model", "base_url", "api_key_env", "attempt",
                  "submitted_at", "input_file_id", "status", "ended", "counts", "ended_at",
                  "collected_at", "error", "submission", "requests": {CUSTOM_ID: [CASE_ID, REPEAT]}}]}

A record is written before its batch is submitted, with an empty `id` and a `submission` mark
that travels in the batch's metadata, and completed when the provider answers: after a kill in
between, resuming looks the mark up (OpenAI lists batches with their metadata) instead of
paying for the batch twice. A batch holds the requests of one route. `requests` maps each request's `custom_id` back to
its case and repeat: a custom_id is a short hash (Anthropic allows 64 characters of
`[a-zA-Z0-9_-]`), so the mapping is what makes a stored batch readable. The list is
append-only: a resubmission is a new batch with `attempt` one higher, and the last batch
that holds a request is the one whose answer counts.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from evalkit.batch import STATE_FILE
from evalkit.errors import BadInput

VERSION = 1

Key = tuple[str, str, int]  # (case_id, route, repeat), as evalkit.store.row_key


def custom_id(route: str, case_id: str, repeat: int) -> str:
    """A stable id for one request: the same (route, case, repeat) always gives the same id,
    which both providers accept (`^[a-zA-Z0-9_-]{1,64}$`)."""
    digest = hashlib.sha256(json.dumps([route, case_id, int(repeat)], ensure_ascii=False).encode("utf-8")).hexdigest()
    return "ek-" + digest[:24]


@dataclass
class BatchRecord:
    """One submitted batch, as stored in batches.json."""

    id: str
    provider: str  # openai | anthropic
    route: str
    model: str
    attempt: int  # 1: first submission; 2: the first resubmission of expired or errored requests ...
    requests: dict[str, list]  # custom_id -> [case_id, repeat]
    submitted_at: str
    base_url: str | None = None  # without credentials
    api_key_env: str | None = None
    input_file_id: str | None = None
    status: str = "submitted"  # the provider's own word (in_progress, completed, ended, expired ...)
    ended: bool = False
    counts: dict[str, int] = field(default_factory=dict)  # the provider's request counts
    ended_at: str | None = None
    collected_at: str | None = None  # when its results were written as rows
    error: str | None = None  # why the provider failed the whole batch
    submission: str | None = None  # a mark sent in the batch's metadata, to find it when `id` never arrived

    @property
    def confirmed(self) -> bool:
        """False while the provider's answer to the submission (the batch id) is not recorded."""
        return bool(self.id)

    def keys(self) -> list[Key]:
        return [(case_id, self.route, int(repeat)) for case_id, repeat in self.requests.values()]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BatchRecord:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class BatchState:
    """The contents of batches.json for one run directory."""

    path: Path
    settings: dict[str, Any] = field(default_factory=dict)
    batches: list[BatchRecord] = field(default_factory=list)

    @classmethod
    def path_in(cls, run_dir: Path) -> Path:
        return Path(run_dir) / STATE_FILE

    @classmethod
    def load(cls, run_dir: Path) -> BatchState | None:
        """The stored state, or None when the run never used the batch lane."""
        path = cls.path_in(run_dir)
        if not path.exists():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(
                path, dict(data.get("settings") or {}), [BatchRecord.from_dict(b) for b in data.get("batches") or []]
            )
        except (json.JSONDecodeError, TypeError, AttributeError) as error:
            raise BadInput(
                f"the batch state file is damaged ({error}); the batch ids it held are in the providers' consoles",
                where=str(path),
            ) from None

    def save(self) -> None:
        """Write atomically: a process killed mid-write leaves the previous version."""
        from evalkit.store import write_json

        write_json(self.path, {"version": VERSION, "settings": self.settings,
                               "batches": [asdict(b) for b in self.batches]})

    def latest(self) -> dict[Key, BatchRecord]:
        """For each request, the last batch that holds it."""
        holder: dict[Key, BatchRecord] = {}
        for record in self.batches:
            for key in record.keys():  # noqa: SIM118 - BatchRecord.keys() is a method, not a dict view
                holder[key] = record
        return holder

    def find(self, batch_id: str) -> BatchRecord:
        return next(b for b in self.batches if b.id == batch_id)
