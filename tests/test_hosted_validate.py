"""Every notebook through the hosted stand-in, as an OpenAI and as an Azure OpenAI account serve chat models:
`python -m course_lib validate` with COURSE_PROVIDER=openai, then azure (about 20 minutes each on 2 cores).

Slow: it runs only with COURSE_SLOW_TESTS=1 (the README's test command runs lessons 00-01 through the stand-in in
tests/test_hosted.py instead). COURSE_SLOW_LESSONS="00 03" limits it to some lessons.

The stand-in (hosted_standin.py) refuses the completions endpoint for chat models, as both providers document, and
forwards chat and embeddings to `python -m course_lib serve` on 127.0.0.1. The count of calls that sent a chat
model to the completions endpoint must be 0.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from conftest import ROOT
from servers import start_serve_process
from standin_fixtures import chat_model_on_completions, read_call_log, start_standin_process

pytestmark = [pytest.mark.slow, pytest.mark.hosted, pytest.mark.notebook]

PROVIDER_VARS = ("COURSE_PROVIDER", "COURSE_MODEL", "COURSE_EMBEDDING_MODEL", "OPENAI_API_KEY", "OPENAI_BASE_URL",
                 "AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_API_KEY", "OPENAI_API_VERSION", "AZURE_OPENAI_DEPLOYMENT")


@pytest.fixture(scope="module")
def upstream():
    env = {k: v for k, v in os.environ.items() if k not in PROVIDER_VARS}
    server, url = start_serve_process(env=env)
    yield env, url
    server.terminate()
    server.wait(timeout=30)


@pytest.mark.parametrize("flavor", ["openai", "azure"])
def test_every_notebook_runs_through_a_chat_only_provider(flavor, upstream):
    env, url = upstream
    log = Path(tempfile.mkdtemp(prefix="standin-")) / "calls.jsonl"
    standin = start_standin_process(url, flavor, log=log)
    try:
        lessons = os.environ.get("COURSE_SLOW_LESSONS", "").split()
        result = subprocess.run([sys.executable, "-m", "course_lib", "validate", *lessons], cwd=ROOT,
                                env={**env, **standin.env()}, capture_output=True, text=True)
    finally:
        standin.stop()
    calls = read_call_log(log)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert any(c["endpoint"] == "chat" for c in calls)
    assert chat_model_on_completions(calls) == []
