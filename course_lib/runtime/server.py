"""The OpenAI API over the local engine: in-process for the course's client, or over HTTP for a room. Taught in 00.

`LocalAPI.handle(method, path, body)` answers OpenAI's REST routes with llama.cpp (`local.LocalEngine`) and the
bundled embedding model. Two ways to reach it:

- `LocalTransport` plugs it into the real `openai.OpenAI` client (an httpx transport), so the default
  `COURSE_PROVIDER=local` needs no port and no network;
- `serve()` (`python -m course_lib serve`) puts it on an HTTP port for a workshop room: learners set
  `COURSE_PROVIDER=compatible` and `OPENAI_BASE_URL` to it. Requests from many learners run concurrently in
  llama.cpp's slots.

What this layer adds to llama.cpp's own server: model names (the base model, each LoRA adapter by its own name,
the embedding model), the embedding route (all-MiniLM-L6-v2 is a sentence-transformers model, not a GGUF), and
OpenAI's error shape, so the SDK raises its usual exceptions (`openai.NotFoundError`, `openai.BadRequestError`).
Routes: GET /v1/models, GET /v1/models/{id}, POST /v1/chat/completions, POST /v1/completions, POST /v1/embeddings.
"""

from __future__ import annotations

import base64
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator

import httpx2 as httpx  # the HTTP library of openai>=3 (a fork of httpx with the same API)

from ..config import LOCAL_EMBEDDING_MODEL
from .encoder import encode_local
from .engine import EngineError, LocalEngine, get_engine

ROOM_SLOTS = 8  # requests `serve` decodes together: a room sends many short, different requests at once
# (benchmarks/room_load.py measures a room on it)

OWNER = "course_lib"  # `owned_by` of every model this server lists
MAX_N = 16  # most answers one request may ask for
ROLES = ("system", "developer", "user", "assistant")  # message roles the chat template renders


class APIError(Exception):
    """A request the API refuses; becomes OpenAI's error JSON with this HTTP status."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code

    def payload(self) -> dict:
        kind = {400: "invalid_request_error", 401: "authentication_error", 404: "invalid_request_error"}
        return {"error": {"message": self.message, "type": kind.get(self.status, "server_error"),
                          "param": self.param, "code": self.code}}


class LocalAPI:
    """OpenAI's REST API answered by the local engine: `handle(method, path, body)` -> (status, payload)."""

    def __init__(self, engine: LocalEngine | None = None):
        self.engine = engine or get_engine()

    def handle(self, method: str, path: str, body: bytes | None) -> tuple[int, dict | Iterator[bytes]]:
        """Answer one request. The payload is a JSON-able dict, or an iterator of SSE bytes when streaming."""
        try:
            route = path.split("?", 1)[0].rstrip("/").removeprefix("/v1")
            if method == "GET" and route == "/models":
                return 200, {"object": "list", "data": [self._model_card(m) for m in self._all_models()]}
            if method == "GET" and route.startswith("/models/"):
                name = route[len("/models/"):]
                if name not in self._all_models():
                    raise self._unknown_model(name)
                return 200, self._model_card(name)
            if method == "POST" and route == "/embeddings":
                return 200, self.embeddings(self._parse(body))
            if method == "POST" and route in ("/chat/completions", "/completions"):
                request = self._parse(body)
                self._check_request(request, chat=route == "/chat/completions")
                answer = self.engine.chat if route == "/chat/completions" else self.engine.complete
                response = answer(request)
                _record_usage(response.get("usage") or {})
                return 200, (self._stream(response) if request.get("stream") else response)
            raise APIError(404, f"{method} {path} is not an endpoint of this server; it serves /v1/models, "
                                "/v1/chat/completions, /v1/completions and /v1/embeddings.")
        except APIError as exc:
            return exc.status, exc.payload()
        except EngineError as exc:
            return 400, APIError(400, str(exc)).payload()
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

    def _check_request(self, request: dict, chat: bool) -> None:
        """Refuse, in OpenAI's words, what OpenAI refuses: an unknown model, out-of-range sampling parameters,
        more than 4 stop strings, messages that are not {role, content} objects."""
        name = request.get("model")
        if not isinstance(name, str) or not name:
            raise APIError(400, "Every request needs a 'model'.", param="model")
        if name not in self.engine.model_names():
            raise self._unknown_model(name)
        # llama.cpp decodes the n answers of one request together, one per slot, so n is capped by the slots too.
        limits = {"temperature": (0, 2), "top_p": (0, 1), "n": (1, min(MAX_N, self.engine.slots))}
        for param, (low, high) in limits.items():
            value = request.get(param)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not low <= value <= high):
                hint = " (one answer per slot of this server; send the request again for more)" if param == "n" else ""
                raise APIError(400, f"'{param}' must be a number from {low} to {high}{hint}; got {value!r}.",
                               param=param)
        max_tokens = request.get("max_completion_tokens", request.get("max_tokens"))
        if max_tokens is not None and (isinstance(max_tokens, bool) or not isinstance(max_tokens, int)
                                       or max_tokens < 1):
            raise APIError(400, f"'max_tokens' must be a positive integer; got {max_tokens!r}.", param="max_tokens")
        stop = request.get("stop")
        if isinstance(stop, list) and len(stop) > 4:
            raise APIError(400, "'stop' may hold at most 4 strings.", param="stop")
        if chat:
            messages = request.get("messages")
            if not isinstance(messages, list) or not messages or not all(
                    isinstance(m, dict) and m.get("role") in ROLES and isinstance(m.get("content"), str)
                    for m in messages):
                raise APIError(400, "'messages' must be a non-empty list of {role, content} objects, each role one "
                                    f"of {', '.join(ROLES)} and each content a string.", param="messages")

    # -- embeddings ------------------------------------------------------------------------------------------
    def embeddings(self, request: dict) -> dict:
        """Embed `input` with the bundled model; as OpenAI does, `encoding_format: "base64"` sends each vector as
        base64 of its float32 bytes (the SDK asks for that by default), otherwise as a list of floats."""
        model = request.get("model")
        if model != LOCAL_EMBEDDING_MODEL:
            raise APIError(404, f"The embedding model {model!r} does not exist on this server; it serves "
                                f"{LOCAL_EMBEDDING_MODEL}.", param="model", code="model_not_found")
        texts = request.get("input")
        texts = [texts] if isinstance(texts, str) else texts
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) and t for t in texts):
            raise APIError(400, "'input' must be a non-empty string or list of non-empty strings.", param="input")
        vectors = encode_local(texts)
        if request.get("encoding_format") == "base64":
            rows = [base64.b64encode(v.astype("<f4").tobytes()).decode() for v in vectors]
        else:
            rows = [v.tolist() for v in vectors]
        tokens = sum(len(t.split()) for t in texts)  # approximate: word count
        return {"object": "list", "model": model, "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
                "data": [{"object": "embedding", "index": i, "embedding": row} for i, row in enumerate(rows)]}

    # -- streaming -------------------------------------------------------------------------------------------
    @staticmethod
    def _stream(response: dict) -> Iterator[bytes]:
        """A finished response sent as server-sent events, in the chunk shapes OpenAI streams."""
        def sse(obj) -> bytes:
            return b"data: " + json.dumps(obj).encode() + b"\n\n"

        base = {k: response.get(k) for k in ("id", "created", "model", "system_fingerprint")}
        if response.get("object") == "chat.completion":
            base["object"] = "chat.completion.chunk"
            for choice in response["choices"]:
                i, text = choice["index"], choice["message"]["content"]
                yield sse({**base, "choices": [{"index": i, "delta": {"role": "assistant", "content": ""},
                                                "finish_reason": None}]})
                yield sse({**base, "choices": [{"index": i, "delta": {"content": text}, "finish_reason": None}]})
                yield sse({**base, "choices": [{"index": i, "delta": {}, "finish_reason": choice["finish_reason"]}]})
            yield sse({**base, "choices": [], "usage": response.get("usage")})
        else:
            base["object"] = "text_completion"
            for choice in response["choices"]:
                yield sse({**base, "choices": [choice]})
        yield b"data: [DONE]\n\n"


_USAGE_LOCK = threading.Lock()


def _record_usage(usage: dict) -> None:
    """Append one request's token counts to the file COURSE_USAGE_LOG names, if set (`validate --record-usage`
    measures what each notebook sends, for `validate --estimate-cost`)."""
    path = os.environ.get("COURSE_USAGE_LOG")
    if path:
        line = json.dumps({"prompt_tokens": usage.get("prompt_tokens", 0),
                           "completion_tokens": usage.get("completion_tokens", 0)})
        with _USAGE_LOCK, open(path, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")


class LocalTransport(httpx.BaseTransport):
    """An httpx transport that answers the OpenAI client's requests in-process with `LocalAPI`."""

    def __init__(self, api: LocalAPI):
        self.api = api

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        status, payload = self.api.handle(request.method, request.url.path, request.read())
        if isinstance(payload, dict):
            return httpx.Response(status, json=payload, request=request)
        return httpx.Response(status, headers={"content-type": "text/event-stream"}, content=b"".join(payload),
                              request=request)


# ------------------------------------------------------------------------------------------------------------
# HTTP server for a room
# ------------------------------------------------------------------------------------------------------------

def make_server(host: str = "127.0.0.1", port: int = 8000, api: LocalAPI | None = None,
                api_key: str = "", quiet: bool = False) -> ThreadingHTTPServer:
    """An HTTP server (not yet started) that serves `api` under /v1; with `api_key`, requests must carry it;
    `quiet` drops the line per request."""
    api = api or LocalAPI()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):  # one short line per request, never a header (keys live there)
            if not quiet:
                status = args[1] if len(args) > 1 else ""
                print(f"[course_lib serve] {self.command} {self.path} -> {status}", flush=True)

        def _answer(self, method: str):
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            if api_key and self.headers.get("authorization", "") != f"Bearer {api_key}":
                status, payload = 401, APIError(401, "Missing or wrong API key: send the key this server was "
                                                     "started with as OPENAI_API_KEY.").payload()
            else:
                status, payload = api.handle(method, self.path, body)
            data = json.dumps(payload).encode() if isinstance(payload, dict) else b"".join(payload)
            self.send_response(status)
            self.send_header("content-type", "application/json" if isinstance(payload, dict) else "text/event-stream")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):  # noqa: N802 (http.server's naming)
            self._answer("GET")

        def do_POST(self):  # noqa: N802
            self._answer("POST")

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    server.request_queue_size = 128  # a room's learners may all press Run at once
    return server


def serve(host: str = "127.0.0.1", port: int = 8000, api_key: str = "", adapters: dict[str, str] | None = None,
          quiet: bool = False, slots: int = ROOM_SLOTS) -> None:
    """Serve the local model (and any adapters, {name: peft folder}) as an OpenAI-compatible API until interrupted."""
    api = LocalAPI()
    api.engine.slots = slots
    for name, folder in (adapters or {}).items():
        api.engine.register_adapter(name, folder)
    api.engine.server  # noqa: B018 - load the weights now, so the first learner does not wait
    server = make_server(host, port, api, api_key, quiet)
    print(f"[course_lib serve] OpenAI-compatible API on http://{host}:{server.server_address[1]}/v1 · "
          f"{api.engine.slots} slots · models: {', '.join(api._all_models())}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
