"""OpenAI Batch API through the `openai` SDK.

The requests are written as batch input JSONL, one line per request
(`{"custom_id", "method": "POST", "url": "/v1/chat/completions", "body"}`, the body exactly
what the live provider sends), uploaded with `files.create(purpose="batch")` and turned into
a batch with `batches.create(endpoint=..., completion_window="24h")`. `batches.retrieve`
reports progress; once the batch has ended (completed, expired, cancelled or failed), the
output and error files come down with `files.content` and their lines are joined to the
requests on `custom_id`, in whatever order they arrive.

One input file holds at most 50,000 requests and 200 MB (and one model), so a route's
requests may need several batches.
"""

from __future__ import annotations

import json
from typing import Any

from evalkit.batch.adapters import BatchAdapter, Outcome, Progress, canceled, expired, missing
from evalkit.providers.base import ProviderError, ProviderResponse
from evalkit.providers.sdk import error_type, retryable_status

ENDPOINT = "/v1/chat/completions"
_ENDED = frozenset({"completed", "expired", "cancelled", "failed"})
#: per-request error codes that a new submission may get past
_RETRYABLE_CODES = frozenset({"batch_expired", "request_timeout"})


def completion_response(body: dict[str, Any], request_id: str | None) -> Outcome:
    """A Chat Completion object (as JSON) read the way the live provider reads the SDK's."""
    choices = body.get("choices") or []
    if not choices:
        return ProviderError("bad_response", "the server returned no choices")
    choice = choices[0]
    message = choice.get("message") or {}
    content = message.get("content")
    text = content if content is not None else (message.get("refusal") or "")
    usage = body.get("usage") or None
    prompt_details = (usage.get("prompt_tokens_details") or {}) if usage else {}
    completion_details = (usage.get("completion_tokens_details") or {}) if usage else {}
    return ProviderResponse(
        text=text, model=body.get("model"),
        input_tokens=usage.get("prompt_tokens") if usage else None,
        output_tokens=usage.get("completion_tokens") if usage else None,
        latency_ms=None, finish_reason=choice.get("finish_reason"), request_id=request_id,
        cached_input_tokens=prompt_details.get("cached_tokens"),
        reasoning_tokens=completion_details.get("reasoning_tokens"))


def line_outcome(line: dict[str, Any]) -> Outcome:
    """One line of an output or error file."""
    error = line.get("error")
    if error:
        code = error.get("code") or "batch_error"
        message = error.get("message") or code
        if code == "batch_cancelled":
            return canceled(message)
        return ProviderError(code, message, retryable=code in _RETRYABLE_CODES)
    response = line.get("response") or {}
    status = int(response.get("status_code") or 0)
    body = response.get("body")
    if status != 200 or not isinstance(body, dict):
        inner = body.get("error", body) if isinstance(body, dict) else body
        message = inner.get("message") if isinstance(inner, dict) else inner
        return ProviderError(error_type(status), f"HTTP {status}: {message or 'no message'}",
                             retryable=retryable_status(status), status=status)
    return completion_response(body, response.get("request_id"))


class OpenAIBatches(BatchAdapter):
    provider = "openai"
    sdk_name = "openai"
    max_requests = 50_000
    max_bytes = 200_000_000

    def _sdk(self):
        if self._client is None:
            import openai

            self._client = openai.AsyncOpenAI(
                api_key=self.api_key, base_url=self.base_url, max_retries=2, timeout=300.0
            )
        return self._client

    def entry(self, custom_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return {"custom_id": custom_id, "method": "POST", "url": ENDPOINT, "body": body}

    async def submit(self, entries: list[dict[str, Any]], metadata: dict[str, str]) -> tuple[str, str | None]:
        data = "".join(json.dumps(e, ensure_ascii=False, separators=(",", ":")) + "\n" for e in entries).encode("utf-8")
        client = self._sdk()
        try:
            uploaded = await client.files.create(file=(f"{self.label}.jsonl", data), purpose="batch")
            batch = await client.batches.create(input_file_id=uploaded.id, endpoint=ENDPOINT, completion_window="24h",
                                                metadata=metadata)
        except Exception as error:  # noqa: BLE001 - every SDK failure becomes a ProviderError
            raise self.error(error) from None
        return batch.id, uploaded.id

    finds_submissions = True
    #: how many of the newest batches are searched for a submission mark
    SEARCH_LIMIT = 1000

    async def find_submission(self, mark: str) -> tuple[str, str | None] | None:
        seen = 0
        try:
            async for batch in self._sdk().batches.list(limit=100):
                if (batch.metadata or {}).get("submission") == mark:
                    return batch.id, batch.input_file_id
                seen += 1
                if seen >= self.SEARCH_LIMIT:
                    break
        except Exception as error:  # noqa: BLE001
            raise self.error(error) from None
        return None

    async def progress(self, batch_id: str) -> Progress:
        try:
            batch = await self._sdk().batches.retrieve(batch_id)
        except Exception as error:  # noqa: BLE001
            raise self.error(error) from None
        counts = batch.request_counts.model_dump() if batch.request_counts is not None else {}
        problems = [e.message or e.code or "" for e in (batch.errors.data or [])] if batch.errors else []
        return Progress(status=batch.status, ended=batch.status in _ENDED, counts=counts,
                        error="; ".join(p for p in problems if p) or None,
                        files={"output": batch.output_file_id, "error": batch.error_file_id})

    async def outcomes(self, batch_id: str, progress: Progress) -> tuple[dict[str, Outcome], ProviderError]:
        found: dict[str, Outcome] = {}
        client = self._sdk()
        for file_id in (progress.files.get("output"), progress.files.get("error")):
            if not file_id:
                continue
            try:
                content = await client.files.content(file_id)
            except Exception as error:  # noqa: BLE001
                raise self.error(error) from None
            for raw in content.content.splitlines():
                if raw.strip():
                    line = json.loads(raw)
                    found[line["custom_id"]] = line_outcome(line)
        if progress.status == "failed":
            absent = ProviderError(
                "batch_failed", f"the provider failed the whole batch: {progress.error or 'no reason given'}"
            )
        elif progress.status == "expired":
            absent = expired()
        elif progress.status == "cancelled":
            absent = canceled()
        else:
            absent = missing()
        return found, absent
