"""What a provider's batch engine looks like to the lane, and the split into batches.

An adapter wraps one route's endpoint and key. It turns (custom_id, request body) into the
provider's entry, submits a list of entries as one batch, reports a batch's progress, and,
once the batch has ended, gives each request's outcome: a ProviderResponse, or a
ProviderError whose `retryable` says whether sending it again could help (an expired or
server-errored request) or not (a bad request, a cancelled batch).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from evalkit.providers.base import Provider, ProviderError, ProviderResponse

T = TypeVar("T")


@dataclass
class Progress:
    """A batch as the provider reports it."""

    status: str
    ended: bool
    counts: dict[str, int] = field(default_factory=dict)
    error: str | None = None  # why the whole batch failed
    files: dict[str, str | None] = field(default_factory=dict)  # OpenAI: output_file_id, error_file_id


Outcome = ProviderResponse | ProviderError


def entry_size(entry: dict[str, Any]) -> int:
    """Bytes of an entry as one JSONL line (the newline included)."""
    return len(json.dumps(entry, ensure_ascii=False, separators=(",", ":")).encode("utf-8")) + 1


def split(items: Iterable[T], sizes: Iterable[int], *, max_count: int, max_bytes: int) -> Iterator[list[T]]:
    """Consecutive groups of at most `max_count` items and `max_bytes` bytes (an item larger
    than `max_bytes` on its own still gets a group: the provider will say what it thinks)."""
    group: list[T] = []
    total = 0
    for item, size in zip(items, sizes):
        if group and (len(group) >= max_count or total + size > max_bytes):
            yield group
            group, total = [], 0
        group.append(item)
        total += size
    if group:
        yield group


class BatchAdapter:
    """The base class: one provider's batch engine for one route (endpoint and key)."""

    provider: ClassVar[str]
    max_requests: ClassVar[int]
    max_bytes: ClassVar[int]
    sdk_name: ClassVar[str]

    def __init__(self, base_url: str | None, api_key: str, *, label: str = "evalkit"):
        self.base_url, self.api_key, self.label = base_url, api_key, label
        self._client: Any = None  # the SDK's async client, made on first use

    @classmethod
    def for_provider(cls, provider: Provider, *, label: str = "evalkit") -> BatchAdapter:
        import os

        variable = provider.key_variable()
        key = os.environ.get(variable) if variable else None
        if not key:
            raise ProviderError("missing_key", f"set {variable} to send {provider.ref} through its batch API")
        return cls(provider.base_url, key, label=label)

    def entry(self, custom_id: str, body: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    async def submit(self, entries: list[dict[str, Any]], metadata: dict[str, str]) -> tuple[str, str | None]:
        """Create one batch: (batch id, input file id or None)."""
        raise NotImplementedError

    async def progress(self, batch_id: str) -> Progress:
        raise NotImplementedError

    #: whether `find_submission` can look a batch up by the mark in its metadata
    finds_submissions: ClassVar[bool] = False

    async def find_submission(self, mark: str) -> tuple[str, str | None] | None:
        """(batch id, input file id) of the batch whose metadata carries `mark`, or None."""
        return None

    async def outcomes(self, batch_id: str, progress: Progress) -> tuple[dict[str, Outcome], ProviderError]:
        """The outcome of each request of an ended batch, by custom_id, and the outcome of a
        request that has no line at all in the results."""
        raise NotImplementedError

    def error(self, error: BaseException) -> ProviderError:
        """An SDK exception as a ProviderError, the key scrubbed."""
        import importlib

        from evalkit.providers.sdk import convert_error

        if isinstance(error, ProviderError):
            return error
        return convert_error(error, importlib.import_module(self.sdk_name), secret=self.api_key, timeout_s=None)

    async def aclose(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.close()


def expired(message: str | None = None) -> ProviderError:
    return ProviderError("batch_expired", message or "the batch ended (its completion window ran out) before this "
                         "request was processed", retryable=True)


def canceled(message: str | None = None) -> ProviderError:
    return ProviderError("batch_canceled", message or "the batch was cancelled before this request was processed")


def missing() -> ProviderError:
    return ProviderError("batch_missing", "the batch ended without a result for this request", retryable=True)


def adapter_class(provider: Provider) -> type[BatchAdapter] | None:
    """The batch adapter of a provider, or None when it has no batch engine."""
    return provider.batch_adapter()


def adapter_by_name(name: str) -> type[BatchAdapter]:
    """The batch adapter of the provider registered as `name` (a batch record names its provider)."""
    from evalkit.providers.base import get_provider_class

    adapter = get_provider_class(name).batch_adapter()
    if adapter is None:
        raise ValueError(f"provider {name!r} has no batch adapter")
    return adapter
