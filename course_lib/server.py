"""An OpenAI-compatible API over the local engine: in-process for the course's client, or over HTTP for a room.

Taught in 00_setup. The same `LocalAPI` answers both ways:

- `LocalTransport` plugs it into the real `openai.OpenAI` client (an httpx transport), so the default
  `COURSE_PROVIDER=local` needs no server, no port and no network;
- `serve()` (`python -m course_lib serve`) puts it on an HTTP port, so a workshop room or a test can point
  `COURSE_PROVIDER=compatible` at it like at vLLM, Ollama or llama.cpp's server.

Endpoints: GET /v1/models, GET /v1/models/{id}, POST /v1/chat/completions, POST /v1/completions (a list of
prompts is generated as one batch), POST /v1/embeddings. Errors come back in OpenAI's JSON error shape, so the
SDK raises its usual exceptions (`openai.NotFoundError`, `openai.BadRequestError`) with a readable message.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator

import httpx2 as httpx  # the HTTP library of openai>=3 (a fork of httpx with the same API)

from .config import LOCAL_EMBEDDING_MODEL, Settings, load_settings

OWNER = "course_lib"  # `owned_by` of every model this server lists; llm.py uses it to find batched servers
DEFAULT_MAX_TOKENS = 256  # completion length when a request gives no max_tokens (a base model rarely stops early)
MAX_N = 16  # most completions one request may ask for


class APIError(Exception):
    """A request the API refuses; becomes OpenAI's error JSON with this HTTP status."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code

    def payload(self) -> dict:
        kind = {400: "invalid_request_error", 401: "authentication_error", 404: "invalid_request_error"}
        return {"error": {"message": self.message, "type": kind.get(self.status, "server_error"),
                          "param": self.param, "code": self.code}}


def _new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(12)}"


class LocalAPI:
    """OpenAI's REST API answered by the in-process engine: `handle(method, path, body)` -> (status, payload)."""

    def __init__(self, settings: Settings | None = None, engine=None):
        self.settings = settings or load_settings()
        self._engine = engine

    @property
    def engine(self):
        if self._engine is None:
            from .local import get_engine

            self._engine = get_engine(self.settings)
        return self._engine

    # -- dispatch --------------------------------------------------------------------------------------------
    def handle(self, method: str, path: str, body: bytes | None) -> tuple[int, dict | Iterator[bytes]]:
        """Answer one request. The payload is a JSON-able dict, or an iterator of SSE bytes when streaming."""
        try:
            route = path.split("?", 1)[0].rstrip("/")
            if route.startswith("/v1"):
                route = route[3:]
            if method == "GET" and route == "/models":
                return 200, {"object": "list", "data": [self._model_card(m) for m in self._all_models()]}
            if method == "GET" and route.startswith("/models/"):
                name = route[len("/models/"):]
                if name not in self._all_models():
                    raise self._unknown_model(name)
                return 200, self._model_card(name)
            if method == "POST" and route in ("/chat/completions", "/completions", "/embeddings"):
                request = self._parse(body)
                handler = {"/chat/completions": self.chat_completions, "/completions": self.completions,
                           "/embeddings": self.embeddings}[route]
                return 200, handler(request)
            raise APIError(404, f"{method} {path} is not an endpoint of this server; it serves /v1/models, "
                                "/v1/chat/completions, /v1/completions and /v1/embeddings.")
        except APIError as exc:
            return exc.status, exc.payload()
        except Exception as exc:  # an engine failure: report it as a server error the SDK can show
            return 500, APIError(500, f"The local engine failed: {type(exc).__name__}: {exc}").payload()

    @staticmethod
    def _parse(body: bytes | None) -> dict:
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            raise APIError(400, "The request body is not valid JSON.") from None
        if not isinstance(request, dict):
            raise APIError(400, "The request body must be a JSON object.")
        return request

    # -- models ----------------------------------------------------------------------------------------------
    def _all_models(self) -> list[str]:
        return [*self.engine.model_names(), LOCAL_EMBEDDING_MODEL]

    @staticmethod
    def _model_card(name: str) -> dict:
        return {"id": name, "object": "model", "created": 0, "owned_by": OWNER}

    def _unknown_model(self, name: str) -> APIError:
        return APIError(404, f"The model {name!r} does not exist on this server; it serves: "
                             f"{', '.join(self._all_models())}.", param="model", code="model_not_found")

    def _chat_model(self, request: dict) -> str:
        name = request.get("model")
        if not isinstance(name, str) or not name:
            raise APIError(400, "Every request needs a 'model'.", param="model")
        if name not in self.engine.model_names():
            raise self._unknown_model(name)
        return name

    # -- sampling parameters ---------------------------------------------------------------------------------
    @staticmethod
    def _sampling(request: dict) -> dict:
        def number(name, default, low, high, kind=float):
            value = request.get(name)
            if value is None:
                return default
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
                raise APIError(400, f"'{name}' must be a number from {low} to {high}; got {value!r}.", param=name)
            return kind(value)

        max_tokens = request.get("max_completion_tokens", request.get("max_tokens"))
        if max_tokens is None:
            max_tokens = DEFAULT_MAX_TOKENS
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
            raise APIError(400, f"'max_tokens' must be a positive integer; got {max_tokens!r}.", param="max_tokens")
        stop = request.get("stop")
        if stop is None:
            stop = []
        elif isinstance(stop, str):
            stop = [stop]
        if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop) or len(stop) > 4:
            raise APIError(400, "'stop' must be a string or a list of at most 4 strings.", param="stop")
        seed = request.get("seed")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise APIError(400, f"'seed' must be an integer; got {seed!r}.", param="seed")
        for unsupported in ("logprobs", "tools", "functions", "response_format"):
            value = request.get(unsupported)
            if value not in (None, False) and not (unsupported == "response_format"
                                                   and isinstance(value, dict) and value.get("type") == "text"):
                raise APIError(400, f"'{unsupported}' is not supported by the local engine (a small base model); "
                                    "ask for the format in the prompt and parse the answer instead.",
                               param=unsupported)
        return {"max_tokens": max_tokens, "temperature": number("temperature", 1.0, 0, 2),
                "top_p": number("top_p", 1.0, 0, 1), "n": number("n", 1, 1, MAX_N, int), "stop": stop, "seed": seed}

    # -- endpoints -------------------------------------------------------------------------------------------
    def chat_completions(self, request: dict):
        from .local import render_chat

        model = self._chat_model(request)
        messages = request.get("messages")
        if not isinstance(messages, list) or not messages:
            raise APIError(400, "'messages' must be a non-empty list of {role, content} objects.", param="messages")
        for i, m in enumerate(messages):
            if not isinstance(m, dict) or m.get("role") not in ("system", "developer", "user", "assistant"):
                raise APIError(400, f"messages[{i}] needs a role of system, user or assistant.", param="messages")
            content = m.get("content")
            if isinstance(content, list):  # content parts: keep the text parts
                content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
            if not isinstance(content, str):
                raise APIError(400, f"messages[{i}].content must be text.", param="messages")
            messages[i] = {"role": "system" if m["role"] == "developer" else m["role"], "content": content}
        params = self._sampling(request)
        prompt, format_stops = render_chat(messages)
        params["stop"] = [*params["stop"], *format_stops]
        generations = self._generate([prompt], model, params)[0]
        created = int(time.time())
        choices = [{"index": i, "message": {"role": "assistant", "content": g.text.strip(), "refusal": None},
                    "finish_reason": g.finish_reason, "logprobs": None} for i, g in enumerate(generations)]
        usage = self._usage([generations])
        body = {"id": _new_id("chatcmpl"), "object": "chat.completion", "created": created, "model": model,
                "choices": choices, "usage": usage, "system_fingerprint": OWNER}
        if request.get("stream"):
            return self._stream_chat(body, include_usage=bool((request.get("stream_options") or {})
                                                              .get("include_usage")))
        return body

    def completions(self, request: dict):
        model = self._chat_model(request)
        prompt = request.get("prompt")
        prompts = [prompt] if isinstance(prompt, str) else prompt
        if not isinstance(prompts, list) or not prompts or not all(isinstance(p, str) for p in prompts):
            raise APIError(400, "'prompt' must be a string or a non-empty list of strings.", param="prompt")
        if request.get("echo") or request.get("suffix"):
            raise APIError(400, "'echo' and 'suffix' are not supported by the local engine.", param="echo")
        params = self._sampling(request)
        per_prompt = self._generate(prompts, model, params)
        # prompt_tokens / completion_tokens per choice are an extension: a batch's usage is one total otherwise
        choices = [{"index": i * params["n"] + j, "text": g.text, "finish_reason": g.finish_reason, "logprobs": None,
                    "prompt_tokens": g.prompt_tokens, "completion_tokens": g.completion_tokens}
                   for i, gens in enumerate(per_prompt) for j, g in enumerate(gens)]
        body = {"id": _new_id("cmpl"), "object": "text_completion", "created": int(time.time()), "model": model,
                "choices": choices, "usage": self._usage(per_prompt), "system_fingerprint": OWNER}
        if request.get("stream"):
            return self._stream_completion(body)
        return body

    def embeddings(self, request: dict) -> dict:
        from .embeddings import encode_local

        model = request.get("model")
        if model != LOCAL_EMBEDDING_MODEL:
            raise APIError(404, f"The embedding model {model!r} does not exist on this server; it serves "
                                f"{LOCAL_EMBEDDING_MODEL}.", param="model", code="model_not_found")
        texts = request.get("input")
        texts = [texts] if isinstance(texts, str) else texts
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) and t for t in texts):
            raise APIError(400, "'input' must be a non-empty string or list of non-empty strings.", param="input")
        vectors = encode_local(texts)
        tokens = sum(len(t.split()) for t in texts)  # approximate: word count
        return {"object": "list", "model": model, "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
                "data": [{"object": "embedding", "index": i, "embedding": v.tolist()} for i, v in enumerate(vectors)]}

    # -- helpers ---------------------------------------------------------------------------------------------
    def _generate(self, prompts: list[str], model: str, params: dict):
        try:
            return self.engine.generate(prompts, model=model, max_tokens=params["max_tokens"],
                                        temperature=params["temperature"], top_p=params["top_p"],
                                        stop=params["stop"], n=params["n"], seed=params["seed"])
        except ValueError as exc:  # e.g. a prompt longer than the context
            raise APIError(400, str(exc), param="prompt") from None

    @staticmethod
    def _usage(per_prompt) -> dict:
        prompt_tokens = sum(gens[0].prompt_tokens for gens in per_prompt if gens)
        completion_tokens = sum(g.completion_tokens for gens in per_prompt for g in gens)
        return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens}

    @staticmethod
    def _sse(obj) -> bytes:
        return b"data: " + json.dumps(obj).encode() + b"\n\n"

    def _stream_chat(self, body: dict, include_usage: bool) -> Iterator[bytes]:
        base = {k: body[k] for k in ("id", "created", "model", "system_fingerprint")}
        base["object"] = "chat.completion.chunk"
        for choice in body["choices"]:
            i = choice["index"]
            yield self._sse({**base, "choices": [{"index": i, "delta": {"role": "assistant", "content": ""},
                                                  "finish_reason": None}]})
            yield self._sse({**base, "choices": [{"index": i, "delta": {"content": choice["message"]["content"]},
                                                  "finish_reason": None}]})
            yield self._sse({**base, "choices": [{"index": i, "delta": {}, "finish_reason": choice["finish_reason"]}]})
        if include_usage:
            yield self._sse({**base, "choices": [], "usage": body["usage"]})
        yield b"data: [DONE]\n\n"

    def _stream_completion(self, body: dict) -> Iterator[bytes]:
        base = {k: body[k] for k in ("id", "object", "created", "model")}
        for choice in body["choices"]:
            yield self._sse({**base, "choices": [choice]})
        yield b"data: [DONE]\n\n"


class LocalTransport(httpx.BaseTransport):
    """An httpx transport that answers the OpenAI client's requests in-process with `LocalAPI`."""

    def __init__(self, api: LocalAPI):
        self.api = api

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        status, payload = self.api.handle(request.method, request.url.path, request.read())
        if isinstance(payload, dict):
            return httpx.Response(status, json=payload, request=request)
        return httpx.Response(status, headers={"content-type": "text/event-stream"}, content=payload,
                              request=request)


# ------------------------------------------------------------------------------------------------------------
# HTTP server
# ------------------------------------------------------------------------------------------------------------

def make_server(host: str = "127.0.0.1", port: int = 8000, api: LocalAPI | None = None,
                api_key: str = "") -> ThreadingHTTPServer:
    """An HTTP server (not yet started) that serves `api` under /v1; with `api_key`, requests must carry it."""
    api = api or LocalAPI()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):  # one short line per request, never a header (keys live there)
            print(f"[course_lib serve] {self.command} {self.path} -> {args[1] if len(args) > 1 else ''}", flush=True)

        def _answer(self, method: str):
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            if api_key and self.headers.get("authorization", "") != f"Bearer {api_key}":
                status, payload = 401, APIError(401, "Missing or wrong API key: send the key this server was "
                                                     "started with as OPENAI_API_KEY.").payload()
            else:
                status, payload = api.handle(method, self.path, body)
            if isinstance(payload, dict):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            self.send_response(status)
            self.send_header("content-type", "text/event-stream")
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            for chunk in payload:
                self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")

        def do_GET(self):  # noqa: N802 (http.server's naming)
            self._answer("GET")

        def do_POST(self):  # noqa: N802
            self._answer("POST")

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server


def serve(host: str = "127.0.0.1", port: int = 8000, api_key: str = "", preload: bool = True) -> None:
    """Serve the local model (and any adapters) as an OpenAI-compatible API until interrupted."""
    api = LocalAPI()
    if preload:
        api.engine.generate(["Hello"], max_tokens=1)  # load the weights now, so the first request is fast
    server = make_server(host, port, api, api_key)
    print(f"[course_lib serve] OpenAI-compatible API on http://{host}:{port}/v1 · models: "
          f"{', '.join(api._all_models())}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def serve_in_thread(host: str = "127.0.0.1", port: int = 0, api: LocalAPI | None = None,
                    api_key: str = "") -> tuple[ThreadingHTTPServer, str]:
    """Start a server in a background thread; returns it and its base URL (port 0 picks a free port)."""
    server = make_server(host, port, api, api_key)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://{host}:{server.server_address[1]}/v1"
