"""A local stub of the Gemini API and Vertex AI wire formats that google-genai speaks, and of
the Cloud Storage upload that google-cloud-storage makes, on 127.0.0.1 (see
`evalkit.testing.services`). Point the SDKs at `stub.url`: google-genai through
`http_options={"base_url": stub.url}` (a route's `base_url`), google-cloud-storage through
`client_options={"api_endpoint": stub.url}`.

* `POST .../models/MODEL:generateContent` (Gemini API `v1beta/models/...`, Vertex AI
  `.../publishers/google/models/...`) and `POST .../endpoints/ID:generateContent` (a tuned
  model's endpoint): the `responder(model, body)` gives the text (default: the first enum
  value of `response_json_schema`'s required fields, as JSON); usage counts words.
* `POST .../tuningJobs` starts a supervised tuning job, `GET .../tuningJobs/ID` reports it:
  `JOB_STATE_RUNNING` for `tuning_polls` looks, then `JOB_STATE_SUCCEEDED` with a tuned
  model endpoint (or `tuning_outcome`: "failed"). `tuning_refusal = (status, message)`
  refuses the create.
* `POST /upload/storage/v1/b/BUCKET/o` (multipart or media upload) stores the object;
  `uploads` maps gs:// URIs to bytes.
* `fail_script(n, path, body)` may return `(status, message)` (or with headers as a third
  item) to answer with a Google error document instead.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from evalkit.testing.services import ServiceStub, answer_for_schema

_GENERATE = re.compile(r"/(?:models|endpoints)/([^/:]+):generateContent$")
_TUNING = re.compile(r"^/v1beta1/projects/([^/]+)/locations/([^/]+)/tuningJobs(?:/([^/]+))?$")
_UPLOAD = re.compile(r"^/upload/storage/v1/b/([^/]+)/o$")
_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
           429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}


def google_error(status: int, message: str) -> dict[str, Any]:
    return {"error": {"code": status, "message": message, "status": _STATUS.get(status, "UNKNOWN")}}


def default_answer(model: str, body: dict[str, Any]) -> str:
    return answer_for_schema((body.get("generationConfig") or {}).get("responseJsonSchema") or {})


class GeminiStub(ServiceStub):
    def __init__(self, responder: Callable[[str, dict], str] | None = None, *, tuning_polls: int = 1,
                 tuning_outcome: str = "succeeded", tuning_refusal: tuple[int, str] | None = None,
                 fail_script: Callable[[int, str, Any], tuple | None] | None = None):
        self.responder = responder or default_answer
        self.tuning_polls, self.tuning_outcome, self.tuning_refusal = tuning_polls, tuning_outcome, tuning_refusal
        self.fail_script = fail_script
        self.tuning_jobs: dict[str, dict[str, Any]] = {}
        self.uploads: dict[str, bytes] = {}
        super().__init__()

    def _handle(self, request: dict[str, Any]) -> tuple:
        path, body = request["path"], request["json"]
        if self.fail_script is not None:
            failure = self.fail_script(len(self.requests) - 1, path, body)
            if failure is not None:
                return (failure[0], google_error(failure[0], failure[1]), *(failure[2:3] or ()))
        if request["method"] == "POST" and (match := _GENERATE.search(path)):
            return self._generate(match.group(1), body or {})
        if match := _TUNING.match(path):
            return self._tuning(request, *match.groups())
        if request["method"] == "POST" and (match := _UPLOAD.match(path)):
            return self._upload(request, match.group(1))
        return 404, google_error(404, f"no such method: {request['method']} {path}")

    def _generate(self, model: str, body: dict[str, Any]) -> tuple:
        if not body.get("contents"):
            return 400, google_error(400, "contents is required")
        text = self.responder(model, body)
        prompt = " ".join(part.get("text", "") for content in body["contents"] for part in content.get("parts", []))
        system = " ".join(p.get("text", "") for p in (body.get("systemInstruction") or {}).get("parts", []))
        return 200, {"candidates": [{"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": "STOP",
                                     "index": 0}],
                     "usageMetadata": {"promptTokenCount": len((system + " " + prompt).split()),
                                       "candidatesTokenCount": len(text.split()),
                                       "totalTokenCount": len((system + " " + prompt).split()) + len(text.split())},
                     "modelVersion": model, "responseId": f"resp-{len(self.requests)}"}

    def _tuning(self, request: dict[str, Any], project: str, location: str, job: str | None) -> tuple:
        if request["method"] == "POST" and job is None:
            if self.tuning_refusal is not None:
                status, message = self.tuning_refusal
                return status, google_error(status, message)
            body = request["json"] or {}
            spec = body.get("supervisedTuningSpec") or {}
            if not str(spec.get("trainingDatasetUri", "")).startswith("gs://"):
                return 400, google_error(400, "supervisedTuningSpec.trainingDatasetUri must be a gs:// URI")
            number = str(1000 + len(self.tuning_jobs))
            name = f"projects/{project}/locations/{location}/tuningJobs/{number}"
            self.tuning_jobs[number] = {"name": name, "baseModel": body.get("baseModel"), "state": "JOB_STATE_PENDING",
                                        "createTime": "2026-12-01T00:00:00Z", "supervisedTuningSpec": spec,
                                        "tunedModelDisplayName": body.get("tunedModelDisplayName"), "_polls": 0,
                                        "_project": project, "_location": location}
            return 200, self._public(self.tuning_jobs[number])
        if request["method"] == "GET" and job is not None:
            record = self.tuning_jobs.get(job)
            if record is None:
                return 404, google_error(404, f"tuning job {job} not found")
            record["_polls"] += 1
            if record["_polls"] > self.tuning_polls:
                if self.tuning_outcome == "failed":
                    record.update(
                        state="JOB_STATE_FAILED", error={"code": 3, "message": "training data has 0 valid examples"}
                    )
                else:
                    base = f"projects/{record['_project']}/locations/{record['_location']}"
                    record.update(
                        state="JOB_STATE_SUCCEEDED",
                        endTime="2026-12-01T01:00:00Z",
                        tunedModel={"model": f"{base}/models/77{job}@1", "endpoint": f"{base}/endpoints/88{job}"},
                        tuningDataStats={
                            "supervisedTuningDataStats": {
                                "totalBillableTokenCount": "123456",
                                "tuningDatasetExampleCount": "40",
                            }
                        },
                    )
            else:
                record["state"] = "JOB_STATE_RUNNING"
            return 200, self._public(record)
        return 404, google_error(404, "no such tuning method")

    @staticmethod
    def _public(record: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in record.items() if not k.startswith("_")}

    def _upload(self, request: dict[str, Any], bucket: str) -> tuple:
        from urllib.parse import parse_qs

        query = parse_qs(request["query"])
        data = request["body"]
        name = (query.get("name") or [None])[0]
        if (query.get("uploadType") or [""])[0] == "multipart":
            boundary = request["headers"].get("content-type", "").split("boundary=")[-1].strip('"')
            parts = [p for p in data.split(b"--" + boundary.encode()) if p.strip() not in (b"", b"--")]
            metadata = json.loads(parts[0].split(b"\r\n\r\n", 1)[1].strip())
            name = metadata.get("name") or name
            data = parts[1].split(b"\r\n\r\n", 1)[1].removesuffix(b"\r\n")
        if not name:
            return 400, google_error(400, "object name is required")
        self.uploads[f"gs://{bucket}/{name}"] = data
        return 200, {"kind": "storage#object", "bucket": bucket, "name": name, "size": str(len(data)),
                     "id": f"{bucket}/{name}/1", "generation": "1"}
