"""Together AI fine-tuning through its documented HTTP API (https://docs.together.ai/reference):

* ``POST /files/upload``        multipart: purpose=fine-tune, file_name, file_type=jsonl, file
* ``POST /fine-tunes``          training_file, model, n_epochs, suffix, validation_file,
                                training_method {method: sft | dpo}, training_type {type: Lora | Full}
* ``GET  /fine-tunes/{id}``     status pending, queued, running, compressing, uploading,
                                cancel_requested, cancelled, error, completed; model_output_name
* ``GET  /fine-tunes/{id}/events``

The base URL is ``https://api.together.xyz/v1`` unless TOGETHER_BASE_URL or --base-url says
otherwise. A tuned model is served by Together's OpenAI-compatible endpoint, so the suite's
route calls it through the `openai` provider with that base URL and TOGETHER_API_KEY.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evalkit.finetune.launchers import (
    CANCELLED,
    FAILED,
    QUEUED,
    RUNNING,
    SUCCEEDED,
    JobEvent,
    JobRequest,
    JobState,
    Launcher,
    LaunchRefused,
    ProviderUnreachable,
)

DEFAULT_BASE_URL = "https://api.together.xyz/v1"
_STATUS = {"pending": QUEUED, "queued": QUEUED, "running": RUNNING, "compressing": RUNNING, "uploading": RUNNING,
           "cancel_requested": CANCELLED, "cancelled": CANCELLED, "error": FAILED, "completed": SUCCEEDED}
# LoRA settings sent when the job trains an adapter (Together requires lora_r and lora_alpha).
LORA = {"type": "Lora", "lora_r": 8, "lora_alpha": 16, "lora_dropout": 0.0, "lora_trainable_modules": "all-linear"}


def _httpx() -> Any:
    try:
        import httpx2  # what the installed SDKs ship

        return httpx2
    except ImportError:  # pragma: no cover - an environment with plain httpx
        import httpx

        return httpx


def _message(response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:300] or response.reason_phrase
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        return str(error or body.get("message") or body)
    return str(body)


class TogetherLauncher(Launcher):
    name = "together"
    api_key_env = "TOGETHER_API_KEY"
    base_url_env = "TOGETHER_BASE_URL"
    default_base_url = DEFAULT_BASE_URL

    def __init__(self, base_url: str | None = None):
        super().__init__(base_url)
        httpx = _httpx()
        assert self.base_url is not None  # Together has a default base URL
        self.client = httpx.Client(base_url=self.base_url.rstrip("/") + "/", timeout=60.0,
                                   headers={"Authorization": f"Bearer {self.api_key}"})

    def _call(self, what: str, method: str, path: str, **kwargs) -> dict[str, Any]:
        httpx = _httpx()
        try:
            response = self.client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ProviderUnreachable(f"together is unreachable ({what}): {exc}") from None
        if response.status_code >= 500:
            raise ProviderUnreachable(
                f"together failed to {what}: {_message(response)} (HTTP {response.status_code}); try again later"
            )
        if response.status_code >= 400:
            raise LaunchRefused(f"together refused to {what}: {_message(response)} (HTTP {response.status_code})")
        return response.json()

    def upload(self, path: Path) -> str:
        with path.open("rb") as handle:
            body = self._call(f"upload {path.name}", "POST", "files/upload",
                              data={"purpose": "fine-tune", "file_name": path.name, "file_type": "jsonl"},
                              files={"file": (path.name, handle, "application/jsonl")})
        return body["id"]

    def create(self, request: JobRequest) -> JobState:
        payload: dict[str, Any] = {
            "training_file": request.training_file_id,
            "model": request.model,
            "training_method": {"method": "dpo"}
            if request.method == "dpo"
            else {"method": "sft", "train_on_inputs": "auto"},
            "training_type": dict(LORA) if request.lora else {"type": "Full"},
        }
        if request.epochs:
            payload["n_epochs"] = request.epochs
        if request.suffix:
            payload["suffix"] = request.suffix
        if request.validation_file_id:
            payload["validation_file"] = request.validation_file_id
        return self._state(
            self._call(f"create a fine-tuning job on {request.model}", "POST", "fine-tunes", json=payload)
        )

    def retrieve(self, job_id: str) -> JobState:
        return self._state(self._call(f"report on job {job_id}", "GET", f"fine-tunes/{job_id}"))

    def events(self, job_id: str) -> list[JobEvent]:
        body = self._call(f"list the events of job {job_id}", "GET", f"fine-tunes/{job_id}/events")
        return [
            JobEvent(
                f"{job_id}#{i}", str(e.get("created_at", "")), str(e.get("level") or "info"), str(e.get("message", ""))
            )
            for i, e in enumerate(body.get("data") or [], start=1)
        ]

    @classmethod
    def route_fields(cls, state: JobState, base_url: str | None) -> dict[str, str]:
        return {
            "model": f"openai:{state.fine_tuned_model}",
            "base_url": base_url or DEFAULT_BASE_URL,
            "api_key_env": cls.api_key_env,
        }

    def close(self) -> None:
        self.client.close()

    @staticmethod
    def _state(job: dict[str, Any]) -> JobState:
        status = str(job.get("status", ""))
        events = job.get("events") or []
        error = next(
            (e.get("message") for e in reversed(events) if e.get("level") == "error" or e.get("type") == "job_error"),
            None,
        )
        return JobState(
            id=job["id"],
            status=_STATUS.get(status, status),
            provider_status=status,
            base_model=job.get("model", ""),
            fine_tuned_model=job.get("model_output_name") if status == "completed" else None,
            training_file_id=job.get("training_file"),
            error=error if status == "error" else None,
            trained_tokens=job.get("token_count"),
            raw=job,
        )
