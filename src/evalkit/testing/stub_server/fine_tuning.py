"""Fine-tuning jobs (``evalkit ft launch`` / ``status``), in each provider's wire format.

``POST /v1/fine_tuning/jobs``            OpenAI ``fine_tuning.job`` creation; a reinforcement job
                                         (``method.type`` "reinforcement") needs
                                         ``method.reinforcement.grader``, a known grader type.
``GET  /v1/fine_tuning/jobs/{id}``       the job; each retrieval moves it one status on
                                         (validating_files, queued, running, succeeded).
``GET  /v1/fine_tuning/jobs/{id}/events`` its events, newest first.
``POST /v1/fine-tunes``                  Together job creation (``training_file``, ``model``,
                                         ``n_epochs``, ``training_method``, ``training_type``).
``GET  /v1/fine-tunes/{id}``             the job; each retrieval moves it on (pending, queued,
                                         running, completed).
``GET  /v1/fine-tunes/{id}/events``      ``{"data": [events]}``, oldest first.

The training files are uploaded first (see ``files``).  ``fine_tuning_refusal=(status,
message)`` refuses every job creation with that error (an organisation no longer allowed to
tune); ``fine_tunable_models`` limits the base models (others get 400 "not available for
fine-tuning"); ``fine_tuning_outcome="failed"`` makes jobs end failed.  Jobs are kept in
``fine_tuning_jobs``.  Together answers errors in the OpenAI shape, and so does the stub.  The OpenAI endpoints also
answer under ``/openai/v1/``, as an Azure OpenAI v1 endpoint does.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

from evalkit.testing.stub_server.common import Handled, StubRequest, _BadRequest, _NotFound, openai_error_body


class _FineTuningMixin:
    """The fine-tuning endpoints of StubServer (see the module docstring)."""

    # Set by StubServer.__init__ (or defined by a sibling mixin); declared for the type checker.
    _lock: threading.Lock
    files: dict[str, dict[str, Any]]
    fine_tuning_jobs: dict[str, dict[str, Any]]
    fine_tuning_refusal: tuple[int, str] | None
    fine_tunable_models: set[str] | None
    fine_tuning_outcome: str

    _OPENAI_FT_STEPS = ("validating_files", "queued", "running", "succeeded")
    _TOGETHER_FT_STEPS = ("pending", "queued", "running", "completed")

    def _check_fine_tuning(self, provider: str, body: dict[str, Any]) -> Handled | None:
        """The refusals a provider gives before a job exists; None when the job may start."""
        for field in ("model", "training_file"):
            if not body.get(field):
                raise _BadRequest(f"Missing required parameter: '{field}'.")
        if self.fine_tuning_refusal is not None:
            status, message = self.fine_tuning_refusal
            return int(status), openai_error_body(int(status), message, "fine_tuning_not_allowed"), None
        refused = self._check_method(body)
        if refused is not None:
            return refused
        model = body["model"]
        if self.fine_tunable_models is not None and model not in self.fine_tunable_models:
            message = f"Model {model} is not available for fine-tuning or does not exist."
            return 400, openai_error_body(400, message, "model_not_available"), None
        for field in ("training_file", "validation_file"):
            file_id = body.get(field)
            if file_id and (file_id not in self.files or self.files[file_id]["provider"] != provider):
                return 400, openai_error_body(400, f"invalid {field}: {file_id}", "invalid_file"), None
        return None

    _GRADER_TYPES = ("string_check", "text_similarity", "python", "score_model", "label_model", "multi")

    def _check_method(self, body: dict[str, Any]) -> Handled | None:
        """A reinforcement job must carry a grader of a known type (sub-graders of a multi one too)."""
        method = body.get("method")
        if not isinstance(method, dict) or method.get("type") != "reinforcement":
            return None
        grader = (method.get("reinforcement") or {}).get("grader")
        if not isinstance(grader, dict):
            return 400, openai_error_body(400, "Missing required parameter: 'method.reinforcement.grader'.",
                                          "missing_required_parameter"), None
        graders = [grader, *((grader.get("graders") or {}).values() if grader.get("type") == "multi" else ())]
        unknown = [g.get("type") for g in graders if not isinstance(g, dict) or g.get("type") not in self._GRADER_TYPES]
        if unknown or (grader.get("type") == "multi" and not grader.get("calculate_output")):
            what = f"unknown grader type {unknown[0]!r}" if unknown else "a multi grader needs calculate_output"
            return 400, openai_error_body(400, f"Invalid grader: {what}.", "invalid_grader"), None
        return None

    def _new_job(self, provider: str, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            number = len(self.fine_tuning_jobs) + 1
            job_id = f"ftjob-stub{number}" if provider == "openai" else f"ft-stub{number}"
            job = {"id": job_id, "provider": provider, "step": 0, "request": body, "created_at": int(time.time()),
                   "events": []}
            self.fine_tuning_jobs[job_id] = job
        self._job_event(job, "Created fine-tuning job")
        return job

    def _job_event(self, job: dict[str, Any], message: str, level: str = "info", kind: str = "job_pending") -> None:
        job["events"].append({"n": len(job["events"]) + 1, "created_at": int(time.time()), "level": level,
                              "message": message, "type": kind})

    def _advance_job(self, job: dict[str, Any], steps: Sequence[str]) -> str:
        """Move the job one status on (a retrieval is one tick) and log the change."""
        if job["step"] < len(steps) - 1:
            job["step"] += 1
            status = steps[job["step"]]
            failed = job["step"] == len(steps) - 1 and self.fine_tuning_outcome == "failed"
            if failed:
                self._job_event(job, "Training file has invalid examples: the job failed", "error", "job_error")
            else:
                self._job_event(
                    job, f"Job is {status}", "info", "job_complete" if job["step"] == len(steps) - 1 else "job_start"
                )
        return steps[job["step"]]

    def _job_and_tail(self, req: StubRequest) -> tuple[dict[str, Any], str]:
        job_id, _, tail = req.rest.partition("/")
        job = self.fine_tuning_jobs.get(job_id)
        if job is None or tail not in ("", "events"):
            raise _NotFound(f"No fine-tuning job found with id {job_id!r}.")
        return job, tail

    # OpenAI

    def _openai_job_object(self, job: dict[str, Any]) -> dict[str, Any]:
        body = job["request"]
        status = self._OPENAI_FT_STEPS[job["step"]]
        failed = status == "succeeded" and self.fine_tuning_outcome == "failed"
        done = status == "succeeded" and not failed
        method = body.get("method") or {
            "type": "supervised",
            "supervised": {"hyperparameters": body.get("hyperparameters") or {}},
        }
        suffix = body.get("suffix")
        return {
            "id": job["id"],
            "object": "fine_tuning.job",
            "created_at": job["created_at"],
            "error": {
                "code": "invalid_training_file",
                "message": "The job failed on invalid examples.",
                "param": "training_file",
            }
            if failed
            else None,
            "fine_tuned_model": f"ft:{body['model']}:stub-org:{suffix or ''}:{job['id'][6:]}" if done else None,
            "finished_at": int(time.time()) if status == "succeeded" else None,
            "hyperparameters": {
                "n_epochs": "auto",
                "batch_size": "auto",
                "learning_rate_multiplier": "auto",
                **(body.get("hyperparameters") or {}),
            },
            "model": body["model"],
            "organization_id": "org-stub",
            "result_files": [],
            "seed": body.get("seed") or 42,
            "status": "failed" if failed else status,
            "trained_tokens": 1000 if done else None,
            "training_file": body["training_file"],
            "validation_file": body.get("validation_file"),
            "estimated_finish": None,
            "integrations": [],
            "metadata": body.get("metadata"),
            "method": method,
            "suffix": suffix,
        }

    async def _handle_openai_ft_create(self, req: StubRequest) -> Handled:
        refused = self._check_fine_tuning("openai", req.body)
        if refused is not None:
            return refused
        job = self._new_job("openai", req.body)
        return 200, self._openai_job_object(job), None

    async def _handle_openai_ft_job(self, req: StubRequest) -> Handled:
        job, tail = self._job_and_tail(req)
        if tail == "events":
            data = [
                {
                    "id": f"ftevent-{job['id']}-{e['n']}",
                    "object": "fine_tuning.job.event",
                    "created_at": e["created_at"],
                    "level": "error" if e["level"] == "error" else "info",
                    "message": e["message"],
                    "type": "message",
                    "data": {},
                }
                for e in reversed(job["events"])
            ]
            return 200, {"object": "list", "data": data, "has_more": False}, None
        self._advance_job(job, self._OPENAI_FT_STEPS)
        return 200, self._openai_job_object(job), None

    # Together

    def _together_job_object(self, job: dict[str, Any]) -> dict[str, Any]:
        body = job["request"]
        status = self._TOGETHER_FT_STEPS[job["step"]]
        if status == "completed" and self.fine_tuning_outcome == "failed":
            status = "error"
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(job["created_at"]))
        suffix = body.get("suffix")
        return {
            "id": job["id"],
            "status": status,
            "created_at": stamp,
            "updated_at": stamp,
            "model": body["model"],
            "training_file": body["training_file"],
            "validation_file": body.get("validation_file"),
            "model_output_name": f"stub-user/{body['model'].split('/')[-1]}"
            f"{'-' + suffix if suffix else ''}-{job['id'][3:]}",
            "suffix": suffix,
            "n_epochs": body.get("n_epochs", 1),
            "training_method": body.get("training_method"),
            "training_type": body.get("training_type"),
            "token_count": 1000 if status == "completed" else 0,
            "events": self._together_events(job),
        }

    def _together_events(self, job: dict[str, Any]) -> list[dict[str, Any]]:
        return [
            {
                "object": "fine-tune-event",
                "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(e["created_at"])),
                "level": e["level"],
                "message": e["message"],
                "type": e["type"],
                "param_count": 0,
                "token_count": 0,
                "total_steps": 0,
                "wandb_url": "",
                "step": 0,
                "checkpoint_path": "",
                "model_path": "",
                "training_offset": 0,
                "hash": "",
            }
            for e in job["events"]
        ]

    async def _handle_together_ft_create(self, req: StubRequest) -> Handled:
        refused = self._check_fine_tuning("together", req.body)
        if refused is not None:
            return refused
        job = self._new_job("together", req.body)
        return 200, self._together_job_object(job), None

    async def _handle_together_ft_job(self, req: StubRequest) -> Handled:
        job, tail = self._job_and_tail(req)
        if tail == "events":
            return 200, {"data": self._together_events(job)}, None
        self._advance_job(job, self._TOGETHER_FT_STEPS)
        return 200, self._together_job_object(job), None
