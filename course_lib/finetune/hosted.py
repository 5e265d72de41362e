"""The hosted path: the same chat JSONL fine-tunes a model on OpenAI or Azure OpenAI. Taught in 03_fine_tuning."""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from ..datasets import DataError
from ..files import atomic_path

HOSTED_BASE_MODEL = "gpt-4o-mini-2024-07-18"  # a base model both OpenAI and Azure OpenAI fine-tune
FINISHED = ("succeeded", "failed", "cancelled")  # job states that end the wait


def upload_ready_copy(examples: list[dict], path: str | Path) -> Path:
    """Write examples as JSONL with only the `messages` field (services reject extra fields such as `template`)."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        for e in examples:
            fh.write(json.dumps({"messages": e["messages"]}, ensure_ascii=False) + "\n")
    return Path(path)


def hosted_fine_tune(client, train: list[dict], validation: list[dict], base_model: str = HOSTED_BASE_MODEL,
                     suffix: str = "sql", epochs: int = 3, folder: str | Path | None = None, wait: bool = True,
                     poll_s: float = 30.0, timeout_s: float = 3 * 3600, log=print):
    """Fine-tune a hosted model through the real SDK: upload the files, create the job, follow its events, and
    return the finished job (its `fine_tuned_model` is the new model name). Taught in 03_fine_tuning.

    The same call works for OpenAI and Azure OpenAI (`client` from `llm.setup()`); on Azure, deploy the resulting
    model before calling it. Costs money: see `estimate_training_cost` first.
    """
    folder = Path(folder or tempfile.mkdtemp(prefix="course-ft-"))
    uploads = []
    for name, rows in (("train.jsonl", train), ("validation.jsonl", validation)):
        path = upload_ready_copy(rows, folder / name)
        with open(path, "rb") as fh:
            uploaded = client.files.create(file=fh, purpose="fine-tune")
        log(f"uploaded {name}: file id {uploaded.id} ({len(rows)} examples)")
        # Azure (and sometimes OpenAI) accept a training file for a job only once the service has processed it.
        uploaded = client.files.wait_for_processing(uploaded.id, poll_interval=min(poll_s, 5.0))
        if uploaded.status == "error":
            raise DataError(f"The service rejected {name} (file {uploaded.id}): "
                            f"{getattr(uploaded, 'status_details', '')}")
        uploads.append(uploaded)
    job = client.fine_tuning.jobs.create(
        model=base_model, training_file=uploads[0].id, validation_file=uploads[1].id, suffix=suffix,
        method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": epochs}}})
    log(f"created job {job.id} on {base_model}: status {job.status}")
    if not wait:
        return job
    seen: set[str] = set()
    deadline = time.monotonic() + timeout_s
    while job.status not in FINISHED and time.monotonic() < deadline:
        time.sleep(poll_s)
        job = client.fine_tuning.jobs.retrieve(job.id)
        events = client.fine_tuning.jobs.list_events(fine_tuning_job_id=job.id, limit=20).data
        for event in reversed(events):
            if event.id not in seen:
                seen.add(event.id)
                log(f"  {event.message}")
    log(f"job {job.id}: {job.status}; fine-tuned model: {job.fine_tuned_model}")
    return job
