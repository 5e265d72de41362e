"""Helpers that put the hosted stand-in (tests/hosted_standin.py) in front of an upstream server (in tests, the
`course_server` fixture: `python -m course_lib serve`), in this process or as a script."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from hosted_standin import (
    AZURE_API_VERSION,
    AZURE_CHAT_DEPLOYMENTS,
    AZURE_EMBEDDING_DEPLOYMENT,
    OPENAI_CHAT_MODELS,
    OPENAI_EMBEDDING_MODEL,
    STANDIN_API_KEY,
    StandinServer,
    start_standin,
)

UPSTREAM_CHAT_MODEL = "gemma-3-270m"  # what `python -m course_lib serve` calls its chat model
UPSTREAM_EMBEDDING_MODEL = "all-MiniLM-L6-v2"  # and its embedding model
SCRIPT = Path(__file__).with_name("hosted_standin.py")


@dataclass
class Standin:
    """A running stand-in: its flavor, address, key and call-log file, and the server or process behind it."""

    flavor: str
    url: str  # base URL (OpenAI, ends in /v1) or endpoint (Azure)
    api_key: str
    log: str | None = None
    server: StandinServer | None = None
    process: subprocess.Popen | None = None

    def calls(self) -> list[dict]:
        """Every call so far: one dict per request with method, path, model, status and endpoint."""
        if self.server is not None:
            return list(self.server.calls)
        return read_call_log(self.log) if self.log else []

    def env(self, **overrides: str) -> dict[str, str]:
        """The course's provider settings that point at this stand-in, plus `overrides`."""
        return {**provider_env(self.flavor, self.url, self.api_key), **overrides}

    def stop(self) -> None:
        """Shut the server down, or end the process."""
        if self.server is not None:
            self.server.shutdown()
        if self.process is not None:
            stop_process(self.process)


def provider_env(flavor: str, url: str, api_key: str, chat_model: str | None = None,
                 embedding_model: str | None = None, api_version: str = AZURE_API_VERSION) -> dict[str, str]:
    """Environment variables that select the `flavor` provider in course_lib.config and point it at `url`."""
    if flavor == "openai":
        return {"COURSE_PROVIDER": "openai", "OPENAI_API_KEY": api_key, "OPENAI_BASE_URL": url,
                "COURSE_MODEL": chat_model or OPENAI_CHAT_MODELS[0],
                "COURSE_EMBEDDING_MODEL": embedding_model or OPENAI_EMBEDDING_MODEL}
    return {"COURSE_PROVIDER": "azure", "AZURE_OPENAI_ENDPOINT": url, "AZURE_OPENAI_API_KEY": api_key,
            "OPENAI_API_VERSION": api_version, "AZURE_OPENAI_DEPLOYMENT": chat_model or AZURE_CHAT_DEPLOYMENTS[0],
            "AZURE_OPENAI_EMBEDDING_DEPLOYMENT": embedding_model or AZURE_EMBEDDING_DEPLOYMENT}


def read_call_log(path: str | Path) -> list[dict]:
    """The calls recorded in a stand-in's log file, oldest first."""
    path = Path(path)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def chat_model_on_completions(calls: list[dict], chat_models=(*OPENAI_CHAT_MODELS, *AZURE_CHAT_DEPLOYMENTS)):
    """The calls that sent a chat model (or chat deployment) to the completions endpoint: what hosted APIs refuse."""
    return [c for c in calls if c["endpoint"] == "completions" and c["model"] in chat_models]


@contextlib.contextmanager
def standin_in_thread(upstream_base_url: str, flavor: str = "openai", log: str | Path | None = None,
                      upstream_chat_model: str = UPSTREAM_CHAT_MODEL,
                      upstream_embedding_model: str = UPSTREAM_EMBEDDING_MODEL, **kwargs):
    """A stand-in running in this process for the `with` block; yields a Standin."""
    kwargs.setdefault("api_key", STANDIN_API_KEY)
    server, url = start_standin(upstream_base_url, upstream_chat_model, upstream_embedding_model, flavor=flavor,
                                log=str(log) if log else None, **kwargs)
    standin = Standin(flavor, url, kwargs["api_key"], str(log) if log else None, server=server)
    try:
        yield standin
    finally:
        standin.stop()


def start_standin_process(upstream_base_url: str, flavor: str = "openai", api_key: str = STANDIN_API_KEY,
                          log: str | Path | None = None, upstream_chat_model: str = UPSTREAM_CHAT_MODEL,
                          upstream_embedding_model: str = UPSTREAM_EMBEDDING_MODEL, fail_first: int = 0,
                          extra_args: list[str] | None = None, timeout: float = 30) -> Standin:
    """Run the stand-in as a script in a subprocess; returns once it prints its address (call .stop() after)."""
    cmd = [sys.executable, str(SCRIPT), "--upstream", upstream_base_url, "--chat-model", upstream_chat_model,
           "--embedding-model", upstream_embedding_model, "--flavor", flavor, "--port", "0", "--api-key", api_key,
           "--fail-first", str(fail_first), *(["--log", str(log)] if log else []), *(extra_args or [])]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = _first_line(proc, timeout)
    except BaseException:
        stop_process(proc)
        raise
    return Standin(flavor, url, api_key, str(log) if log else None, process=proc)


def _first_line(proc: subprocess.Popen, timeout: float) -> str:
    """The first line `proc` prints, waiting at most `timeout` seconds."""
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    if not lines or not lines[0].strip():
        raise RuntimeError(f"the hosted stand-in did not start within {timeout} s (exit code {proc.poll()})")
    return lines[0].strip()


def stop_process(proc: subprocess.Popen) -> None:
    """End a stand-in process: terminate, then kill if it lingers."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for stream in (proc.stdout, proc.stderr):
        if stream:
            stream.close()
