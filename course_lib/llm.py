"""One OpenAI SDK client for every lesson, whichever provider is configured. Taught in 00_setup.

    from course_lib.llm import setup
    client, settings = setup()          # prints the provider and models in use, never a key
    client.chat.completions.create(model=settings.chat_model, messages=[...])

`local` (the default) answers in-process with the bundled Gemma 3 270M through `server.LocalTransport`;
`openai`, `azure` and `compatible` are the SDK's own clients pointed at the configured service.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import openai

from .config import ConfigError, Settings, check_settings, load_settings

LOCAL_BASE_URL = "http://course-local.invalid/v1"  # never resolved: the local transport answers in-process
LOCAL_API_KEY = "local-no-key-needed"  # the SDK insists on some key; the local engine ignores it

_CLIENTS: dict[tuple, openai.OpenAI] = {}


def get_client(settings: Settings | None = None, max_retries: int = 2) -> openai.OpenAI:
    """A real `openai.OpenAI` client for the configured provider (cached per settings). Taught in 00_setup."""
    settings = settings or load_settings()
    check_settings(settings)
    key = (settings, max_retries)
    if key in _CLIENTS:
        return _CLIENTS[key]
    timeout = settings.request_timeout_s
    if settings.provider == "local":
        from .server import LocalAPI, LocalTransport

        http_client = openai.DefaultHttpxClient(transport=LocalTransport(LocalAPI(settings)), timeout=None)
        client = openai.OpenAI(api_key=LOCAL_API_KEY, base_url=LOCAL_BASE_URL, http_client=http_client,
                               max_retries=0)
    elif settings.provider == "openai":
        client = openai.OpenAI(api_key=settings.openai_api_key, base_url=settings.base_url or None,
                               timeout=timeout, max_retries=max_retries)
    elif settings.provider == "azure":
        client = openai.AzureOpenAI(azure_endpoint=settings.azure_endpoint, api_key=settings.azure_api_key,
                                    api_version=settings.api_version, timeout=timeout, max_retries=max_retries)
    else:  # compatible
        client = openai.OpenAI(api_key=settings.openai_api_key or "not-needed", base_url=settings.base_url,
                               timeout=timeout, max_retries=max_retries)
    _CLIENTS[key] = client
    return client


def forget_local_clients() -> None:
    """Drop the cached clients of the local provider (see `local.release_engines`)."""
    for key in [k for k in _CLIENTS if k[0].provider == "local"]:
        del _CLIENTS[key]


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


def local_engine(client: openai.OpenAI):
    """The in-process engine behind a local client, or None for any other provider."""
    from .server import LocalTransport

    transport = getattr(getattr(client, "_client", None), "_transport", None)
    return transport.api.engine if isinstance(transport, LocalTransport) else None


def serves_batches(client: openai.OpenAI) -> bool:
    """True when the client's server generates a list of prompts as one batch (the local engine, or
    `python -m course_lib serve`). Other servers get requests in parallel threads instead."""
    if local_engine(client) is not None:
        return True
    cached = getattr(client, "_course_serves_batches", None)
    if cached is None:
        from .server import OWNER

        try:
            cached = any(getattr(m, "owned_by", "") == OWNER for m in client.models.list())
        except openai.OpenAIError:
            cached = False
        client._course_serves_batches = cached
    return cached


# ------------------------------------------------------------------------------------------------------------
# Many requests at once: the evaluation path
# ------------------------------------------------------------------------------------------------------------

@dataclass
class Answer:
    """One answer from a batch: text, why it stopped, token counts and this request's share of the time."""

    text: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    latency_s: float


REQUEST_BATCHES = 4  # prompts per request to the local engine, in multiples of batch_size (it batches continuously)


def _chunks(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start:start + size]


def complete_many(client: openai.OpenAI, model: str, prompts: list[str], max_tokens: int = 16,
                  temperature: float = 0.0, stop: list[str] | None = None, batch_size: int = 16,
                  progress: bool = True, desc: str = "completions") -> list[Answer]:
    """Complete many prompts through `client.completions` — batched where the server batches. Taught in 01.

    On the local engine each request carries REQUEST_BATCHES × `batch_size` prompts; the engine runs
    `local.DEFAULT_BATCH_SIZE` (32) of them at a time and starts waiting prompts as answers end (continuous
    batching: `local.LocalEngine._decode`)."""
    from tqdm.auto import tqdm

    answers: list[Answer] = []
    bar = tqdm(total=len(prompts), desc=desc, disable=not progress, leave=False)
    if serves_batches(client):
        for batch in _chunks(list(prompts), REQUEST_BATCHES * batch_size):
            started = time.perf_counter()
            response = client.completions.create(model=model, prompt=batch, max_tokens=max_tokens,
                                                 temperature=temperature, stop=stop or None)
            share = (time.perf_counter() - started) / len(batch)
            for choice in sorted(response.choices, key=lambda c: c.index):
                extra = choice.model_extra or {}  # this server's per-choice token counts
                answers.append(Answer(choice.text, choice.finish_reason, int(extra.get("prompt_tokens", 0)),
                                      int(extra.get("completion_tokens", 0)), share))
            bar.update(len(batch))
    else:
        def one(prompt: str) -> Answer:
            started = time.perf_counter()
            response = client.completions.create(model=model, prompt=prompt, max_tokens=max_tokens,
                                                 temperature=temperature, stop=stop or None)
            usage = response.usage
            return Answer(response.choices[0].text, response.choices[0].finish_reason,
                          usage.prompt_tokens if usage else 0, usage.completion_tokens if usage else 0,
                          time.perf_counter() - started)

        with ThreadPoolExecutor(max_workers=8) as pool:
            for answer in pool.map(one, prompts):
                answers.append(answer)
                bar.update(1)
    bar.close()
    return answers


def chat_many(client: openai.OpenAI, model: str, conversations: list[list[dict]], max_tokens: int = 64,
              temperature: float = 0.0, stop: list[str] | None = None, batch_size: int = 16,
              progress: bool = True, desc: str = "chats") -> list[Answer]:
    """Answer many chat conversations: one batched call per `batch_size` on the local engine, parallel requests
    elsewhere. Same answers as calling `client.chat.completions.create` one by one. Taught in 01."""
    from tqdm.auto import tqdm

    if serves_batches(client):
        from .local import render_chat

        rendered = [render_chat(c) for c in conversations]
        stops = sorted({s for _, format_stops in rendered for s in format_stops} | set(stop or []))
        if len(stops) > 4:
            raise ValueError("At most 2 extra stop strings fit beside the chat format's own.")
        answers = complete_many(client, model, [p for p, _ in rendered], max_tokens=max_tokens,
                                temperature=temperature, stop=stops, batch_size=batch_size, progress=progress,
                                desc=desc)
        for a in answers:
            a.text = a.text.strip()
        return answers

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

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(one, conversations))
    bar.close()
    return answers
