"""Anthropic Message Batches through the `anthropic` SDK.

`messages.batches.create(requests=[{"custom_id", "params"}])`, where `params` is exactly the
body the live provider sends to /v1/messages; `messages.batches.retrieve` reports progress
(`processing_status` in_progress, canceling, ended); once ended, `messages.batches.results`
streams one JSON line per request, in any order, whose `result.type` is succeeded, errored,
canceled or expired.

One batch holds at most 100,000 requests and 256 MB.
"""

from __future__ import annotations

from typing import Any

from evalkit.batch.adapters import BatchAdapter, Outcome, Progress, canceled, expired, missing
from evalkit.providers.anthropic import message_response
from evalkit.providers.base import ProviderError

#: Anthropic's error types -> (evalkit's error type, whether a new submission may help)
_ERRORS = {
    "invalid_request_error": ("bad_request", False),
    "authentication_error": ("authentication", False),
    "permission_error": ("permission_denied", False),
    "billing_error": ("billing", False),
    "not_found_error": ("not_found", False),
    "request_too_large": ("request_too_large", False),
    "rate_limit_error": ("rate_limit", True),
    "timeout_error": ("timeout", True),
    "api_error": ("server_error", True),
    "overloaded_error": ("overloaded", True),
}


def result_outcome(result: Any) -> Outcome:
    """One request's `result` (succeeded / errored / canceled / expired)."""
    kind = getattr(result, "type", None)
    if kind == "succeeded":
        return message_response(result.message)
    if kind == "expired":
        return expired()
    if kind == "canceled":
        return canceled()
    if kind == "errored":
        inner = getattr(getattr(result, "error", None), "error", None)
        name = getattr(inner, "type", None) or "api_error"
        message = getattr(inner, "message", None) or "no message"
        evalkit_type, retryable = _ERRORS.get(name, (name, False))
        return ProviderError(evalkit_type, f"{name}: {message}", retryable=retryable)
    return ProviderError("bad_response", f"unknown batch result type {kind!r}")


class AnthropicBatches(BatchAdapter):
    provider = "anthropic"
    sdk_name = "anthropic"
    max_requests = 100_000
    max_bytes = 256_000_000 - 64_000  # room for the envelope around the requests

    def _sdk(self):
        if self._client is None:
            import anthropic

            self._client = anthropic.AsyncAnthropic(
                api_key=self.api_key, base_url=self.base_url, max_retries=2, timeout=300.0
            )
        return self._client

    def entry(self, custom_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return {"custom_id": custom_id, "params": body}

    async def submit(self, entries: list[dict[str, Any]], metadata: dict[str, str]) -> tuple[str, str | None]:
        try:
            batch = await self._sdk().messages.batches.create(requests=entries)
        except Exception as error:  # noqa: BLE001 - every SDK failure becomes a ProviderError
            raise self.error(error) from None
        return batch.id, None

    async def progress(self, batch_id: str) -> Progress:
        try:
            batch = await self._sdk().messages.batches.retrieve(batch_id)
        except Exception as error:  # noqa: BLE001
            raise self.error(error) from None
        return Progress(status=batch.processing_status, ended=batch.processing_status == "ended",
                        counts=batch.request_counts.model_dump())

    async def outcomes(self, batch_id: str, progress: Progress) -> tuple[dict[str, Outcome], ProviderError]:
        found: dict[str, Outcome] = {}
        try:
            async for item in await self._sdk().messages.batches.results(batch_id):
                found[item.custom_id] = result_outcome(item.result)
        except Exception as error:  # noqa: BLE001
            raise self.error(error) from None
        return found, missing()
