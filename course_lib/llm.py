"""One OpenAI SDK client for every lesson, whichever provider is configured. Taught in 00_setup.

    from course_lib.llm import setup
    client, settings = setup()          # prints the provider and models in use, never a key
    client.chat.completions.create(model=settings.chat_model, messages=[...])

Every lesson talks to models through chat completions, the one API that OpenAI, Azure OpenAI and every
compatible server serve. `local` (the default) answers in-process with the bundled Gemma 3 270M on llama.cpp
through `server.LocalTransport`; `openai`, `azure` and `compatible` are the SDK's own clients pointed at the
configured service, with retries on rate limits and server errors (honouring Retry-After).

What the OpenAI API cannot carry for the local engine (serving a trained adapter under a model name, the model's
own tokens) goes through one small facade, `local_engine(client)`: lesson code never touches the engine itself.
"""

from __future__ import annotations

import functools
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import openai
from tqdm.auto import tqdm

from .config import LOCAL_CHAT_MODEL, LOCAL_EMBEDDING_MODEL, ConfigError, Settings, check_settings, load_settings
from .datasets import load_prices
from .pricing import request_cost
from .runtime.chat_format import render_chat  # noqa: F401 - how the local base model reads a conversation (00)
from .runtime.engine import LocalEngine, release_engines
from .runtime.server import LocalAPI, LocalTransport

LOCAL_BASE_URL = "http://course-local.invalid/v1"  # never resolved: the local transport answers in-process
LOCAL_API_KEY = "local-no-key-needed"  # the SDK insists on some key; the local engine ignores it


@dataclass(frozen=True)
class _Built:
    """What the course recorded about a client it built: the engine behind a local one, requests to keep in flight,
    whether its provider bills per token."""

    engine: LocalEngine | None
    concurrency: int
    paid: bool


_BUILT: dict[int, _Built] = {}  # id(client) -> what get_client built it with (clients live as long as the process)
PAID_PROVIDERS = ("openai", "azure")
LARGE_EVALUATION = 20  # from this many requests, chat_many prints a cost estimate first on a paid provider


def get_client(settings: Settings | None = None) -> openai.OpenAI:
    """A real `openai.OpenAI` client for the configured provider (one per settings). Taught in 00_setup."""
    settings = settings or load_settings()
    check_settings(settings)
    return _client_for(settings)


@functools.cache
def _client_for(settings: Settings) -> openai.OpenAI:
    timeout, retries = settings.request_timeout_s, settings.max_retries
    engine = None
    if settings.provider == "local":
        api = LocalAPI()
        engine = api.engine
        http_client = openai.DefaultHttpxClient(transport=LocalTransport(api), timeout=None)
        client = openai.OpenAI(api_key=LOCAL_API_KEY, base_url=LOCAL_BASE_URL, http_client=http_client,
                               max_retries=0)
    elif settings.provider == "openai":
        client = openai.OpenAI(api_key=settings.openai_api_key, base_url=settings.base_url or None,
                               timeout=timeout, max_retries=retries)
    elif settings.provider == "azure":
        client = openai.AzureOpenAI(azure_endpoint=settings.azure_endpoint, api_key=settings.azure_api_key,
                                    api_version=settings.api_version, timeout=timeout, max_retries=retries)
    else:  # compatible
        client = openai.OpenAI(api_key=settings.openai_api_key or "not-needed", base_url=settings.base_url,
                               timeout=timeout, max_retries=retries)
    _BUILT[id(client)] = _Built(engine, engine.slots if engine else settings.max_concurrency,
                                settings.provider in PAID_PROVIDERS)
    return client


def setup(settings: Settings | None = None, show: bool = True) -> tuple[openai.OpenAI, Settings]:
    """The first code cell of every notebook: settings, a client, and one line saying what is in use."""
    settings = settings or load_settings()
    try:
        client = get_client(settings)
    except ConfigError as exc:
        raise ConfigError(f"{exc} Then restart the kernel. (`python -m course_lib doctor` checks the setup.)") from None
    if show:
        print(settings.describe())
    return client, settings


def local_client(settings: Settings) -> openai.OpenAI:
    """A client of the local engine, whatever provider `settings` name: lesson 03 trains the course's small model on
    this machine and serves it here, also when the baselines run on a hosted model."""
    if settings.is_local:
        return get_client(settings)
    return get_client(replace(settings, provider="local", chat_model=LOCAL_CHAT_MODEL,
                              embedding_model=LOCAL_EMBEDDING_MODEL, completions_model="", finetuned_sql_model=""))


class LocalModel:
    """What the OpenAI API cannot carry for the in-process model: the facade lesson code uses. Taught in 00 and 03.

    `register_adapter(name, folder)` serves a trained LoRA adapter as one more model name; `tokenize` and
    `count_tokens` show the model's own tokens; `slots` is how many requests it decodes together."""

    def __init__(self, engine: LocalEngine):
        self._engine = engine

    @property
    def slots(self) -> int:
        return self._engine.slots

    def register_adapter(self, name: str, adapter_dir: str | Path) -> None:
        """Serve the peft adapter in `adapter_dir` under the model name `name` (the engine restarts, about 2 s)."""
        self._engine.register_adapter(name, adapter_dir)

    def tokenize(self, text: str) -> list[tuple[int, str]]:
        """(token id, piece) for each token of `text`, as the model reads it."""
        return self._engine.tokenize(text)

    def count_tokens(self, text: str) -> int:
        """Tokens in `text` plus the start-of-text token every prompt begins with."""
        return self._engine.count_tokens(text)

    def rendered_prompt(self, messages: list[dict]) -> str:
        """The prompt text the engine builds from chat messages (its chat template)."""
        return self._engine.apply_template(messages)

    def close(self) -> None:
        """Stop the engine and free its memory; the next request starts it again."""
        self._engine.close()


def local_engine(client: openai.OpenAI) -> LocalModel | None:
    """The facade of the in-process model behind a local client, or None for any other provider."""
    built = _BUILT.get(id(client))
    return LocalModel(built.engine) if built and built.engine else None


def release_local_model() -> None:
    """Stop this process's local model and forget it (a tool that hands the cores to other processes calls it)."""
    release_engines()


def completions_model(settings: Settings) -> str | None:
    """The model that serves the legacy completions endpoint (raw text continuation), or None.

    The local base model and compatible servers serve it with the chat model; OpenAI's and Azure's chat models
    refuse it, so there it is `COURSE_COMPLETIONS_MODEL` (an instruct model or deployment) when set."""
    if settings.provider in ("local", "compatible"):
        return settings.chat_model
    return settings.completions_model or None


def completions_skipped(settings: Settings) -> str:
    """The one sentence a notebook prints instead of running a raw-completion cell on a chat-only provider."""
    return (f"Skipped: {settings.chat_model} on {settings.provider} is a chat model, which refuses the completions "
            "endpoint; set COURSE_COMPLETIONS_MODEL to a completions model (e.g. gpt-3.5-turbo-instruct, or an "
            "instruct deployment on Azure) to run this cell.")


# ------------------------------------------------------------------------------------------------------------
# Many requests at once: the evaluation path
# ------------------------------------------------------------------------------------------------------------

@dataclass
class Answer:
    """One answer from a list of requests: text, why it stopped, token counts and its own time."""

    text: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    latency_s: float


def chat_many(client: openai.OpenAI, model: str, conversations: list[list[dict]], max_tokens: int = 64,
              temperature: float = 0.0, stop: list[str] | None = None, progress: bool = True, desc: str = "chats",
              concurrency: int | None = None) -> list[Answer]:
    """Answer many chat conversations, `concurrency` requests in flight at once. Taught in 01.

    Each request is exactly `client.chat.completions.create(...)`; on the local engine the requests in flight
    are decoded together in llama.cpp's slots, on a hosted provider they run in parallel (at most
    COURSE_MAX_CONCURRENCY, so a real account's rate limits hold). Answers come back in input order."""
    built = _BUILT.get(id(client))
    workers = concurrency or (built.concurrency if built else 4)
    if built and built.paid and len(conversations) >= LARGE_EVALUATION:
        print(estimate_cost(model, conversations, max_tokens), flush=True)
    bar = tqdm(total=len(conversations), desc=desc, disable=not progress, leave=False)

    def one(messages: list[dict]) -> Answer:
        started = time.perf_counter()
        response = client.chat.completions.create(model=model, messages=messages, max_tokens=max_tokens,
                                                  temperature=temperature, stop=stop or None)
        usage = response.usage
        bar.update(1)
        return Answer((response.choices[0].message.content or "").strip(), response.choices[0].finish_reason,
                      usage.prompt_tokens if usage else 0, usage.completion_tokens if usage else 0,
                      time.perf_counter() - started)

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        answers = list(pool.map(one, conversations))
    bar.close()
    return answers


def estimate_cost(model: str, conversations: list[list[dict]], max_tokens: int) -> str:
    """One line: what sending these conversations is likely to cost on `model`, from the course's dated price table
    (prompt tokens estimated at four characters each, every answer at its `max_tokens`). Taught in 01."""
    prices = load_prices()
    prompt_tokens = sum(len(m.get("content") or "") for c in conversations for m in c) // 4 + 4 * len(conversations)
    completion_tokens = max_tokens * len(conversations)
    head = (f"[cost] {len(conversations)} requests to {model}: about {prompt_tokens:,} prompt + at most "
            f"{completion_tokens:,} completion tokens")
    if model not in prices["models"]:
        return f"{head}; {model} is not in the course's price table ({', '.join(prices['models'])})."
    usd = request_cost(model, prompt_tokens, completion_tokens, prices)
    return f"{head} ≈ ${usd:.4f} at the prices of {prices['as_of']}."
