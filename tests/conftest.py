"""Shared fixtures: one local client per test session (the model loads once), free ports, clean environments."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from course_lib.server import free_port, start_serve_process  # noqa: F401 - free_port: tests import it from here

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


@pytest.fixture(scope="session")
def course_server():
    """`python -m course_lib serve` in a subprocess on 127.0.0.1: a real OpenAI-compatible server."""
    proc, base_url = start_serve_process(env=local_env(), extra_args=())
    yield base_url
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
