"""Launchers: providers that run fine-tuning jobs (upload, create, follow).

A launcher is a small class (subclass `Launcher`) registered under the `evalkit.ft_launchers`
entry-point group; the built-ins are registered there the same way a plugin is, and the table
below only serves a source tree that was never installed. Keys come from environment variables
only and are never written anywhere.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from evalkit.errors import BadInput, LaunchRefused, ProviderUnreachable  # noqa: F401 - launchers import them from here

ENTRY_POINT_GROUP = "evalkit.ft_launchers"


#: statuses every launcher reports, whatever its provider calls them
QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = "queued", "running", "succeeded", "failed", "cancelled"
TERMINAL = (SUCCEEDED, FAILED, CANCELLED)


@dataclass(frozen=True)
class JobRequest:
    """What to train: the uploaded file ids and the job's settings."""

    model: str
    training_file_id: str
    validation_file_id: str | None = None
    suffix: str | None = None
    epochs: int | None = None
    method: str = "supervised"  # or "dpo", "reinforcement"
    grader: dict[str, Any] | None = None  # reinforcement: the grader that scores each sampled answer
    lora: bool = True  # providers that offer both (Together) train an adapter unless told otherwise


@dataclass
class JobState:
    """A job as the provider reports it, with its status in evalkit's words."""

    id: str
    status: str  # queued | running | succeeded | failed | cancelled
    provider_status: str
    base_model: str
    fine_tuned_model: str | None = None
    training_file_id: str | None = None
    error: str | None = None
    trained_tokens: int | None = None  # billable tokens processed, once the provider reports them
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def done(self) -> bool:
        return self.status in TERMINAL


@dataclass(frozen=True)
class JobEvent:
    id: str
    created_at: str
    level: str
    message: str


class Launcher:
    """Base class: one provider's fine-tuning API."""

    name: ClassVar[str] = ""
    api_key_env: ClassVar[str] = ""
    base_url_env: ClassVar[str] = ""
    default_base_url: ClassVar[str | None] = None
    #: the training-file formats this provider takes
    accepts: ClassVar[tuple[str, ...]] = ("openai-chat", "openai-dpo", "hf-chat")
    #: True for providers that read training data from object storage (`configure_storage`)
    reads_object_storage: ClassVar[bool] = False

    def __init__(self, base_url: str | None = None):
        self.base_url = self.resolve_base_url(base_url)
        self.api_key = os.environ.get(self.api_key_env, "")
        if not self.api_key:
            raise BadInput(
                f"{self.name} needs an API key: set {self.api_key_env} (keys are read from the environment only)"
            )

    @classmethod
    def resolve_base_url(cls, base_url: str | None) -> str | None:
        """The given base URL, else the environment's (`base_url_env`), else the provider's default."""
        return base_url or os.environ.get(cls.base_url_env) or cls.default_base_url

    def configure_storage(self, *, bucket: str | None = None, uris: dict[str, str | None] | None = None) -> None:
        """Where training data lives for providers that read it from object storage
        (`reads_object_storage`): a bucket to upload to, or the URIs the user uploaded each file to."""

    def upload(self, path: Path) -> str:
        """Upload a training file; return its file id."""
        raise NotImplementedError

    def create(self, request: JobRequest) -> JobState:
        raise NotImplementedError

    def retrieve(self, job_id: str) -> JobState:
        raise NotImplementedError

    def events(self, job_id: str) -> list[JobEvent]:
        """The job's events, oldest first."""
        raise NotImplementedError

    @classmethod
    def route_fields(cls, state: JobState, base_url: str | None) -> dict[str, str]:
        """What the suite's fine-tuned route needs to call the model (model, and base_url, api_key_env if
        not OpenAI's)."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the HTTP client."""


def launcher_names() -> list[str]:
    from evalkit.plugins import names

    return names(ENTRY_POINT_GROUP)


def get_launcher_class(name: str) -> type[Launcher]:
    from evalkit.plugins import load

    cls: type[Launcher] = load(ENTRY_POINT_GROUP, name, what="fine-tuning provider")
    return cls
