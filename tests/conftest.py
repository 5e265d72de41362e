"""Shared fixtures: one local client per test session (the model loads once), free ports, clean environments;
and the test tiers.

Tiers are pytest markers (pyproject.toml lists them): `model` (loads a model or starts a server on one),
`train` (converts the weights or trains an adapter), `notebook` (executes notebooks), `hosted` (the loopback
stand-in of OpenAI and Azure), `slow` (opt-in with COURSE_SLOW_TESTS=1). The quick tier is every test with none of
them (CONTRIBUTING.md): while it runs, loading a model raises, so a test that needs one and lacks its mark fails.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from servers import free_port, start_serve_process  # noqa: F401 - free_port: tests import it from here

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
    """The local engine itself (tests may look below the client; lesson code uses llm.local_engine)."""
    from course_lib.runtime.engine import get_engine

    return get_engine()


# -- tiers -------------------------------------------------------------------------------------------------------

MODEL_FIXTURES = {"client", "engine", "course_server", "dense"}  # a test asking for one of these needs the model
FILE_MARKS = {  # what a whole file needs
    "test_assistant.py": ("model",), "test_compatible.py": ("model",), "test_doctor.py": ("model",),
    "test_finetune_training.py": ("model", "train"), "test_lora_gguf.py": ("model", "train"),
    "test_weights_cache.py": ("train",), "test_local_api.py": ("model",), "test_validate.py": ("model", "notebook"),
    "test_hosted.py": ("model", "hosted"), "test_hosted_standin.py": ("model", "hosted"),
    "test_hosted_validate.py": ("model", "hosted", "notebook", "slow"),
}
TIERS = ("model", "train", "notebook", "hosted", "slow")


def pytest_collection_modifyitems(config, items):
    run_slow = os.environ.get("COURSE_SLOW_TESTS") == "1"
    for item in items:
        path = Path(str(item.fspath))
        marks = set(FILE_MARKS.get(path.name, ()))
        if path.suffix == ".ipynb":
            marks |= {"notebook", "model"}
        if MODEL_FIXTURES & set(getattr(item, "fixturenames", ())):
            marks.add("model")
        for mark in marks:
            item.add_marker(getattr(pytest.mark, mark))
        if "slow" in marks and not run_slow:
            item.add_marker(pytest.mark.skip(reason="slow (about 40 minutes): run with COURSE_SLOW_TESTS=1"))


@pytest.fixture(scope="session", autouse=True)
def models_refused_in_the_quick_tier(request):
    """When the marker expression leaves out `model`, loading any model raises, naming the mark to add."""
    expression = request.config.getoption("markexpr", "") or ""
    if "not model" not in expression:
        yield
        return

    def refuse(*args, **kwargs):
        raise RuntimeError("this test loads a model: mark it `model` (tests/conftest.py, FILE_MARKS or a fixture)")

    from course_lib.runtime import encoder, engine, weights

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(engine.LocalEngine, "server", property(refuse))
        patch.setattr(encoder, "local_model_path", refuse)
        patch.setattr(weights, "ensure_converted_weights", refuse)
        patch.setattr(weights, "_tokenizer_in", refuse)  # the model's tokenizer, however it is reached
        yield


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
