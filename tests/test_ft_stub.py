"""The stub's fine-tuning endpoints speak each provider's wire format (OpenAI SDK, Together over HTTP)."""

from __future__ import annotations

import httpx2
import openai
import pytest

from evalkit.testing import StubServer


@pytest.fixture
def stub():
    with StubServer() as server:
        yield server


def openai_client(stub):
    return openai.OpenAI(base_url=stub.base_url_openai, api_key="sk-test", max_retries=0)


def test_an_openai_job_moves_one_status_per_retrieval(stub):
    client = openai_client(stub)
    training = client.files.create(file=("t.jsonl", b"{}\n"), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=training.id)
    statuses = [job.status] + [client.fine_tuning.jobs.retrieve(job.id).status for _ in range(4)]
    assert statuses == ["validating_files", "queued", "running", "succeeded", "succeeded"]


def test_openai_events_are_listed_newest_first(stub):
    client = openai_client(stub)
    job = client.fine_tuning.jobs.create(
        model="m", training_file=client.files.create(file=("t.jsonl", b"{}\n"), purpose="fine-tune").id
    )
    client.fine_tuning.jobs.retrieve(job.id)
    assert [e.message for e in client.fine_tuning.jobs.list_events(job.id)] == [
        "Job is queued",
        "Created fine-tuning job",
    ]


def test_an_unknown_job_is_404_in_the_openai_shape(stub):
    with pytest.raises(openai.NotFoundError):
        openai_client(stub).fine_tuning.jobs.retrieve("ftjob-nope")


def test_a_job_on_a_file_never_uploaded_is_400(stub):
    with pytest.raises(openai.BadRequestError):
        openai_client(stub).fine_tuning.jobs.create(model="m", training_file="file-missing")


def test_together_upload_and_job_round_trip(stub):
    client = httpx2.Client(base_url=stub.url + "/v1/", headers={"Authorization": "Bearer tg"})
    uploaded = client.post("files/upload", data={"purpose": "fine-tune", "file_name": "t.jsonl", "file_type": "jsonl"},
                           files={"file": ("t.jsonl", b'{"a": 1}\n{"a": 2}\n')}).json()
    assert (uploaded["id"], uploaded["LineCount"]) == ("file-stub1", 2)
    job = client.post("fine-tunes", json={"training_file": uploaded["id"], "model": "org/model"}).json()
    assert job["status"] == "pending"
    assert [client.get(f"fine-tunes/{job['id']}").json()["status"] for _ in range(3)] == [
        "queued",
        "running",
        "completed",
    ]
    assert len(client.get(f"fine-tunes/{job['id']}/events").json()["data"]) == 4
