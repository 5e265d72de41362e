"""Shared fixtures: one local client per test session (the model loads once), free ports, clean environments."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROVIDER_VARS = ("COURSE_PROVIDER", "COURSE_MODEL", "COURSE_EMBEDDING_MODEL", "OPENAI_API_KEY", "OPENAI_BASE_URL",
                 "AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_API_KEY", "OPENAI_API_VERSION", "AZURE_OPENAI_DEPLOYMENT")


def local_env(**overrides: str) -> dict[str, str]:
    """This process's environment without provider settings (the offline default), plus `overrides`."""
    env = {k: v for k, v in os.environ.items() if k not in PROVIDER_VARS}
    env.update(overrides)
    return env


@pytest.fixture(scope="session")
def settings():
    from course_lib.config import load_settings

    return load_settings(env=local_env())


@pytest.fixture(scope="session")
def client(settings):
    from course_lib.llm import get_client

    return get_client(settings)


@pytest.fixture(scope="session")
def engine(client):
    from course_lib.llm import local_engine

    return local_engine(client)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def course_server():
    """`python -m course_lib serve` in a subprocess on 127.0.0.1: a real OpenAI-compatible server."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "course_lib", "serve", "--port", str(port)], cwd=ROOT,
                            env=local_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base_url = f"http://127.0.0.1:{port}/v1"
    deadline = time.time() + 300
    import urllib.request

    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"course_lib serve exited early:\n{proc.stdout.read()}")
        try:
            urllib.request.urlopen(base_url + "/models", timeout=2).read()
            break
        except OSError:
            time.sleep(1)
    else:
        proc.kill()
        raise RuntimeError("course_lib serve did not answer within 300 s")
    yield base_url
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
