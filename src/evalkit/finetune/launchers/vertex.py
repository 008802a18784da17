"""Gemini supervised tuning on Vertex AI, through google-genai's tuning API.

* The training data is the `vertex-gemini` export. Vertex AI reads it from Cloud Storage: give
  the `gs://` URI you uploaded it to (`--training-uri`, `--validation-uri`), or a bucket
  (`--bucket`) and evalkit uploads it there with the google-cloud-storage client, as
  `evalkit/SHA256[:12]-NAME`.
* Project and location come from `GOOGLE_CLOUD_PROJECT` and `GOOGLE_CLOUD_LOCATION` (for
  `status`, also from the job's name); credentials are Application Default Credentials,
  never written by evalkit. `--base-url` (or `GOOGLE_VERTEX_BASE_URL`) reaches another
  endpoint for both APIs.
* `status` writes the tuned model's endpoint into the route as
  `google:projects/P/locations/L/endpoints/E`, which the `google` provider calls on Vertex AI
  and prices at its base model's rates. The trained tokens are the dataset's billable tokens
  times the epochs, at the table's `google:` training price.

google-genai and google-cloud-storage are the optional extra `evalkit-harness[google]`.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Any

from evalkit.errors import BadInput
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

_STATUS = {"JOB_STATE_QUEUED": QUEUED, "JOB_STATE_PENDING": QUEUED, "JOB_STATE_RUNNING": RUNNING,
           "JOB_STATE_UPDATING": RUNNING, "JOB_STATE_PAUSED": RUNNING, "JOB_STATE_SUCCEEDED": SUCCEEDED,
           "JOB_STATE_PARTIALLY_SUCCEEDED": SUCCEEDED, "JOB_STATE_FAILED": FAILED, "JOB_STATE_EXPIRED": FAILED,
           "JOB_STATE_CANCELLING": CANCELLED, "JOB_STATE_CANCELLED": CANCELLED}
_JOB_NAME = re.compile(r"^projects/([^/]+)/locations/([^/]+)/tuningJobs/[^/]+$")


def _require_sdk() -> None:
    import importlib.util

    if importlib.util.find_spec("google.genai") is None:
        raise BadInput("ft launch vertex needs the 'google' extra: pip install 'evalkit-harness[google]'")


class VertexLauncher(Launcher):
    name = "vertex"
    api_key_env = ""  # Application Default Credentials
    base_url_env = "GOOGLE_VERTEX_BASE_URL"
    accepts = ("vertex-gemini",)
    price_provider = "google"
    reads_object_storage = True

    def __init__(self, base_url: str | None = None):
        _require_sdk()
        self.base_url = self.resolve_base_url(base_url)
        self.project = os.environ.get("GOOGLE_CLOUD_PROJECT")
        self.location = os.environ.get("GOOGLE_CLOUD_LOCATION")
        self.bucket: str | None = None
        self.uris: dict[str, str] = {}
        self._client: Any = None  # google.genai.Client, made on first use

    def configure_storage(self, *, bucket: str | None = None, uris: dict[str, str | None] | None = None) -> None:
        self.bucket = bucket.removeprefix("gs://").strip("/") if bucket else None
        self.uris = {str(Path(path)): uri for path, uri in (uris or {}).items() if uri}
        for uri in self.uris.values():
            if not uri.startswith("gs://"):
                raise BadInput(
                    f"a Vertex AI training file is read from Cloud Storage: expected a gs:// URI, got {uri!r}"
                )

    def _where(self, job_id: str | None = None) -> tuple[str, str]:
        match = _JOB_NAME.match(job_id or "")
        project = self.project or (match.group(1) if match else None)
        location = self.location or (match.group(2) if match else None)
        if not (project and location):
            raise BadInput(
                "Vertex AI tuning needs a project and a location: set GOOGLE_CLOUD_PROJECT and GOOGLE_CLOUD_LOCATION"
            )
        return project, location

    def _genai(self, job_id: str | None = None):
        if self._client is None:
            from google import genai
            from google.genai import types

            project, location = self._where(job_id)
            options: dict[str, Any] = {"retry_options": types.HttpRetryOptions(attempts=1), "timeout": 60_000}
            if self.base_url:
                options["base_url"] = self.base_url
            self._client = genai.Client(vertexai=True, project=project, location=location,
                                        http_options=types.HttpOptions(**options))
        return self._client

    def _call(self, what: str, function, *args, **kwargs):
        import warnings

        from google.genai import errors

        try:
            with warnings.catch_warnings():  # the SDK marks its tuning API experimental on every call
                warnings.simplefilter("ignore")
                return function(*args, **kwargs)
        except errors.APIError as error:
            code = int(error.code or 0)
            message = f"{error.message or error.details} (HTTP {code})"
            if code >= 500 or code == 429:
                raise ProviderUnreachable(f"vertex failed to {what}: {message}; try again later") from None
            raise LaunchRefused(f"vertex refused to {what}: {message}") from None
        except (OSError, ConnectionError) as error:
            raise ProviderUnreachable(f"vertex is unreachable ({what}): {error}") from None
        except Exception as error:  # noqa: BLE001 - httpx errors and the like
            if any(word in type(error).__name__ for word in ("Connect", "Timeout", "Network", "Transport")):
                raise ProviderUnreachable(f"vertex is unreachable ({what}): {type(error).__name__}: {error}") from None
            raise

    # -- the steps

    def upload(self, path: Path) -> str:
        """The gs:// URI of the file: the one given for it, else where evalkit uploads it."""
        given = self.uris.get(str(Path(path)))
        if given:
            return given
        if not self.bucket:
            raise BadInput("Vertex AI reads training data from Cloud Storage: give --training-uri gs://BUCKET/PATH "
                           "(uploaded by you) or --bucket BUCKET (evalkit uploads the file there)")
        from google.cloud import storage

        project, _ = self._where()
        options = {"api_endpoint": self.base_url} if self.base_url else None
        client = storage.Client(project=project, client_options=options)
        name = f"evalkit/{hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]}-{Path(path).name}"
        try:
            client.bucket(self.bucket).blob(name).upload_from_filename(str(path), content_type="application/jsonl")
        except Exception as error:  # noqa: BLE001 - google.api_core errors carry the status
            status = getattr(error, "code", None)
            if isinstance(status, int) and 400 <= status < 500:
                raise LaunchRefused(f"Cloud Storage refused the upload to gs://{self.bucket}/{name}: {error}") from None
            raise ProviderUnreachable(f"the upload to gs://{self.bucket}/{name} failed: {error}") from None
        return f"gs://{self.bucket}/{name}"

    def create(self, request: JobRequest) -> JobState:
        from google.genai import types

        if request.method != "supervised":
            raise LaunchRefused("vertex tunes Gemini with supervised examples only (no preference files)")
        config: dict[str, Any] = {}
        if request.epochs:
            config["epoch_count"] = request.epochs
        if request.suffix:
            config["tuned_model_display_name"] = request.suffix
        if request.validation_file_id:
            config["validation_dataset"] = types.TuningValidationDataset(gcs_uri=request.validation_file_id)
        client = self._genai()
        job = self._call(f"create a tuning job on {request.model}", client.tunings.tune, base_model=request.model,
                         training_dataset=types.TuningDataset(gcs_uri=request.training_file_id),
                         config=types.CreateTuningJobConfig(**config) if config else None)
        state = self._state(job)
        state.training_file_id = state.training_file_id or request.training_file_id
        return state

    def retrieve(self, job_id: str) -> JobState:
        return self._state(self._call(f"report on job {job_id}", self._genai(job_id).tunings.get, name=job_id))

    def events(self, job_id: str) -> list[JobEvent]:
        return []  # the tuning API keeps no event list; the job's state and error say it all

    @classmethod
    def route_fields(cls, state: JobState, base_url: str | None) -> dict[str, str]:
        return {"model": f"google:{state.fine_tuned_model}"}

    def close(self) -> None:
        self._client = None

    @staticmethod
    def _state(job: Any) -> JobState:
        raw_state = getattr(job.state, "value", job.state)
        status = str(raw_state or "")
        tuned = getattr(job, "tuned_model", None)
        endpoint = getattr(tuned, "endpoint", None) if tuned is not None else None
        error = getattr(job, "error", None)
        spec = getattr(job, "supervised_tuning_spec", None)
        trained = None
        stats = getattr(getattr(job, "tuning_data_stats", None), "supervised_tuning_data_stats", None)
        billable = getattr(stats, "total_billable_token_count", None) if stats is not None else None
        if billable:
            epochs = getattr(getattr(spec, "hyper_parameters", None), "epoch_count", None)
            trained = int(billable) * int(epochs or 1)
        return JobState(id=job.name, status=_STATUS.get(status, status.lower()), provider_status=status,
                        base_model=job.base_model or "", fine_tuned_model=endpoint if status == "JOB_STATE_SUCCEEDED" or
                        status == "JOB_STATE_PARTIALLY_SUCCEEDED" else None,
                        training_file_id=getattr(spec, "training_dataset_uri", None),
                        error=getattr(error, "message", None) if error is not None else None, trained_tokens=trained,
                        raw=job.model_dump(mode="json", exclude_none=True) if hasattr(job, "model_dump") else {})
