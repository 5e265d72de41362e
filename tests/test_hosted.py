"""Hosted providers, as an instructor's OpenAI or Azure OpenAI account serves them: a loopback stand-in
(tests/hosted_standin.py) refuses the completions endpoint for chat models as both document it, and forwards chat
and embeddings to `python -m course_lib serve`. The course must run through it unchanged."""

import subprocess
import sys

import pytest
from conftest import ROOT, local_env
from standin_fixtures import chat_model_on_completions, standin_in_thread

# Lesson 00 (its raw-continuation cells are what a chat-only provider refuses) and the first two lessons' exercises
# and solutions (chat, few-shot turns, the checks a learner meets). Every notebook on both flavours is
# tests/test_hosted_validate.py's job (COURSE_SLOW_TESTS=1): it takes too long for every CI run.
HOSTED_NOTEBOOKS = ["notebooks/00_setup.ipynb", "exercises/00_setup.ipynb", "solutions/00_setup.ipynb",
                    "exercises/01_prompt_engineering.ipynb", "solutions/01_prompt_engineering.ipynb"]


def run(command: list[str], env: dict, timeout: int = 600, cwd=ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("flavor", ["openai", "azure"])
def test_doctor_passes_where_the_lessons_would_run(course_server, flavor):
    with standin_in_thread(course_server, flavor) as standin:
        result = run([sys.executable, "-m", "course_lib", "doctor"], local_env(**standin.env()))
        assert result.returncode == 0, result.stdout + result.stderr
        assert "OK    chat" in result.stdout and "8 requests at once" in result.stdout
        assert "NOTE  no completions model" in result.stdout
        assert not chat_model_on_completions(standin.calls())


def test_doctor_fails_in_one_line_on_a_model_that_refuses_the_lessons_requests(course_server):
    with standin_in_thread(course_server, "openai") as standin:
        result = run([sys.executable, "-m", "course_lib", "doctor"], local_env(**standin.env(COURSE_MODEL="o3-mini")))
    assert result.returncode == 1
    failures = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    assert len(failures) == 1 and "o3-mini refuses a request the lessons send" in failures[0], result.stdout
    assert "set COURSE_MODEL" in failures[0] and "Traceback" not in result.stdout + result.stderr


def test_doctor_checks_a_configured_completions_model(course_server):
    with standin_in_thread(course_server, "openai") as standin:
        good = run([sys.executable, "-m", "course_lib", "doctor"],
                   local_env(**standin.env(COURSE_COMPLETIONS_MODEL="gpt-3.5-turbo-instruct")))
        bad = run([sys.executable, "-m", "course_lib", "doctor"],
                  local_env(**standin.env(COURSE_COMPLETIONS_MODEL="gpt-4o-mini")))
    assert good.returncode == 0 and "OK    completion with gpt-3.5-turbo-instruct" in good.stdout, good.stdout
    assert bad.returncode == 1 and "COURSE_COMPLETIONS_MODEL" in bad.stdout, bad.stdout


def test_rate_limits_are_retried_after_the_wait_the_provider_asks_for(course_server):
    import time

    from course_lib.config import load_settings
    from course_lib.llm import chat_many, get_client

    with standin_in_thread(course_server, "openai", fail_first=3) as standin:
        client = get_client(load_settings(env=local_env(**standin.env())))
        started = time.perf_counter()
        answers = chat_many(client, "gpt-4o-mini", [[{"role": "user", "content": "Name a colour."}]] * 4,
                            max_tokens=4, progress=False)
        assert len(answers) == 4 and all(a.text for a in answers)
        assert time.perf_counter() - started >= 1.0  # Retry-After: 1 was honoured, not ignored
        assert [c["status"] for c in standin.calls()].count(429) == 3


@pytest.mark.parametrize("flavor", ["openai", "azure"])
def test_the_course_runs_unchanged_on_a_chat_only_provider(course_server, flavor, tmp_path):
    """HOSTED_NOTEBOOKS through the stand-in; none of them sends the chat model to the completions endpoint (the
    raw-continuation cells say they are skipped instead)."""
    with standin_in_thread(course_server, flavor, log=tmp_path / "calls.jsonl") as standin:
        result = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax",
                      *[str(ROOT / n) for n in HOSTED_NOTEBOOKS]], local_env(**standin.env()), timeout=900,
                     cwd=tmp_path)
        calls = standin.calls()
    assert result.returncode == 0, result.stdout[-4000:]
    assert not chat_model_on_completions(calls), chat_model_on_completions(calls)[:3]
    assert sum(c["endpoint"] == "chat" for c in calls) > 100


def test_a_large_evaluation_on_a_paid_provider_prints_its_estimated_cost_first(course_server, capsys):
    from course_lib.config import load_settings
    from course_lib.datasets import load_prices
    from course_lib.llm import LARGE_EVALUATION, chat_many, estimate_cost, get_client

    rate = load_prices()["models"]["gpt-4o-mini"]
    conversations = [[{"role": "user", "content": "x" * 400}]] * LARGE_EVALUATION
    line = estimate_cost("gpt-4o-mini", conversations, max_tokens=10)
    prompt_tokens = LARGE_EVALUATION * (100 + 4)
    assert f"about {prompt_tokens:,} prompt + at most {10 * LARGE_EVALUATION:,} completion tokens" in line
    assert f"${(prompt_tokens * rate['input'] + 10 * LARGE_EVALUATION * rate['output']) / 1e6:.4f}" in line
    assert "not in the course's price table" in estimate_cost("my-deployment", conversations, 10)
    with standin_in_thread(course_server, "openai") as standin:
        client = get_client(load_settings(env=local_env(**standin.env())))
        chat_many(client, "gpt-4o-mini", [[{"role": "user", "content": "Hi"}]] * LARGE_EVALUATION, max_tokens=2,
                  progress=False)
    assert "[cost] 20 requests to gpt-4o-mini" in capsys.readouterr().out
