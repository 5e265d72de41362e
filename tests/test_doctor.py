"""`python -m course_lib doctor`: exit 0 offline with no key; exit 1 with one sentence saying what to fix."""

import subprocess
import sys

import pytest
from conftest import ROOT, free_port, local_env


def doctor(**env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "course_lib", "doctor"], cwd=ROOT, env=local_env(**env),
                          capture_output=True, text=True, timeout=600)


def test_doctor_passes_offline_with_no_key():
    result = doctor()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "provider         local" in result.stdout
    assert "OK    chat" in result.stdout and "8 requests at once" in result.stdout
    assert "OK    embedding" in result.stdout
    assert "OK    completion with gemma-3-270m" in result.stdout
    assert "384 dimensions" in result.stdout


@pytest.mark.parametrize("env, cause", [
    ({"COURSE_PROVIDER": "anthropic"}, "COURSE_PROVIDER='anthropic' is not a provider"),
    ({"COURSE_PROVIDER": "openai"}, "needs OPENAI_API_KEY"),
    ({"COURSE_PROVIDER": "compatible", "COURSE_MODEL": "gemma-3-270m", "COURSE_REQUEST_TIMEOUT": "5",
      "OPENAI_BASE_URL": f"http://127.0.0.1:{free_port()}/v1"}, "Could not reach http://127.0.0.1:"),
])
def test_doctor_fails_with_one_line_cause(env, cause):
    result = doctor(**env)
    assert result.returncode == 1
    failures = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    assert len(failures) == 1 and cause in failures[0], result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_doctor_never_prints_the_key():
    key = "sk-doctor-secret-0123456789abcdef"
    result = doctor(COURSE_PROVIDER="openai", OPENAI_API_KEY=key, OPENAI_BASE_URL=f"http://127.0.0.1:{free_port()}/v1",
                    COURSE_REQUEST_TIMEOUT="5")
    assert result.returncode == 1
    assert key not in result.stdout + result.stderr and "sk-…(" in result.stdout
