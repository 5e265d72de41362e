"""The `compatible` provider against `python -m course_lib serve` started on 127.0.0.1 by the test (a room's server)."""

import subprocess
import sys

import openai
import pytest
from conftest import ROOT, local_env


def compatible_env(base_url: str, **extra) -> dict:
    return local_env(COURSE_PROVIDER="compatible", OPENAI_BASE_URL=base_url, COURSE_MODEL="gemma-3-270m", **extra)


def test_client_reaches_the_server(course_server, client):
    from course_lib.config import load_settings
    from course_lib.llm import get_client, local_engine

    # A fresh in-process engine, as the server's is: after other requests, a prompt that shares a beginning with a
    # cached one can come out slightly differently (runtime/engine.py), and other test files may have run before
    # this one.
    local_engine(client).close()
    remote = get_client(load_settings(env=compatible_env(course_server)))
    assert remote.base_url.host == "127.0.0.1"
    assert "gemma-3-270m" in [m.id for m in remote.models.list()]
    messages = [{"role": "user", "content": "Name a colour."}]
    over_http = remote.chat.completions.create(model="gemma-3-270m", max_tokens=8, temperature=0, messages=messages)
    in_process = client.chat.completions.create(model="gemma-3-270m", max_tokens=8, temperature=0, messages=messages)
    assert over_http.choices[0].message.content == in_process.choices[0].message.content
    assert over_http.usage.completion_tokens <= 8
    stream = remote.chat.completions.create(model="gemma-3-270m", max_tokens=8, temperature=0, stream=True,
                                            messages=messages)
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == \
        over_http.choices[0].message.content
    raw = remote.completions.create(model="gemma-3-270m", prompt="Plant-based soap is", max_tokens=6, temperature=0)
    assert raw.choices[0].text == client.completions.create(model="gemma-3-270m", prompt="Plant-based soap is",
                                                             max_tokens=6, temperature=0).choices[0].text
    with pytest.raises(openai.NotFoundError):
        remote.chat.completions.create(model="no-such-model", messages=messages, max_tokens=1)


def test_doctor_passes_against_the_server(course_server):
    result = subprocess.run([sys.executable, "-m", "course_lib", "doctor"], cwd=ROOT, capture_output=True, text=True,
                            env=compatible_env(course_server), timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"base URL         {course_server}" in result.stdout


def test_server_with_api_key_refuses_others():
    from servers import serve_in_thread

    from course_lib.runtime.server import LocalAPI

    server, base_url = serve_in_thread(api=LocalAPI(), api_key="room-key-123")
    try:
        with pytest.raises(openai.AuthenticationError, match="Missing or wrong API key"):
            openai.OpenAI(base_url=base_url, api_key="wrong", max_retries=0).models.list()
        ids = [m.id for m in openai.OpenAI(base_url=base_url, api_key="room-key-123", max_retries=0).models.list()]
        assert "gemma-3-270m" in ids
    finally:
        server.shutdown()


def test_serve_refuses_a_slot_count_it_cannot_run():
    result = subprocess.run([sys.executable, "-m", "course_lib", "serve", "--slots", "0"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "--slots 0: give a number from 1 to 64" in result.stderr
