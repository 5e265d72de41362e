"""A loopback stand-in for hosted chat-only providers (OpenAI and Azure OpenAI), forwarding real work upstream.

It answers on 127.0.0.1 the way OpenAI's and Azure OpenAI's documentation says their APIs answer for chat models:
their URLs, authentication headers, model and deployment names, error bodies and status codes, and 429 rate limits
with Retry-After. The generating is done by an upstream OpenAI-compatible server (the course's
`python -m course_lib serve`), with the model names rewritten on the way in and out. Every request is recorded in
`server.calls` (and, with `log`, as one JSON line in a file) so a test can check which endpoints were called.

    server, base_url = start_standin("http://127.0.0.1:8000/v1", "gemma-3-270m", "all-MiniLM-L6-v2")
    ...  # openai.OpenAI(base_url=base_url, api_key=STANDIN_API_KEY)
    server.shutdown()

As a script (prints its address on one line once ready, then serves until killed):

    python tests/hosted_standin.py --upstream http://127.0.0.1:8000/v1 --chat-model gemma-3-270m \
        --embedding-model all-MiniLM-L6-v2 --flavor openai --port 0 --api-key KEY --log calls.jsonl

Only the standard library is used. Headers and keys are never logged.
"""

from __future__ import annotations

import argparse
import http.client
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

STANDIN_API_KEY = "sk-standin-0123456789abcdef"  # the key the stand-in expects when none is given
FORWARD_TIMEOUT_S = 300  # how long one forwarded request may take upstream
RETRY_AFTER_S = 1  # the Retry-After a rate-limited (fail_first) request is told to wait

OPENAI_CHAT_MODELS = ("gpt-4o-mini", "gpt-4o")
OPENAI_REASONING_MODEL = "o3-mini"  # a chat model that refuses `max_tokens` and `stop`, as OpenAI's reasoning models do
OPENAI_INSTRUCT_MODEL = "gpt-3.5-turbo-instruct"  # the completions-only model OpenAI still serves
OPENAI_EMBEDDING_MODEL = "text-embedding-3-small"
OPENAI_MODEL_CARDS = [  # as GET https://api.openai.com/v1/models lists them
    {"id": "gpt-4o-mini", "object": "model", "created": 1721172741, "owned_by": "system"},
    {"id": "gpt-4o", "object": "model", "created": 1715367049, "owned_by": "system"},
    {"id": "o3-mini", "object": "model", "created": 1737146383, "owned_by": "system"},
    {"id": "gpt-3.5-turbo-instruct", "object": "model", "created": 1692901427, "owned_by": "system"},
    {"id": "text-embedding-3-small", "object": "model", "created": 1705948997, "owned_by": "system"},
]

AZURE_CHAT_DEPLOYMENTS = ("gpt-4o-mini",)
AZURE_EMBEDDING_DEPLOYMENT = "text-embedding-3-small"
AZURE_INSTRUCT_DEPLOYMENT = "gpt-35-turbo-instruct"
AZURE_API_VERSION = "2024-10-21"  # a GA api-version clients may send; any non-empty value is accepted
AZURE_CREATED_AT = 1721260800
AZURE_FILTER = {name: {"filtered": False, "severity": "safe"} for name in ("hate", "self_harm", "sexual", "violence")}

ENDPOINTS = (("/chat/completions", "chat"), ("/completions", "completions"), ("/embeddings", "embeddings"),
             ("/models", "models"), ("/deployments", "models"))


# ------------------------------------------------------------------------------------------------------------
# Error bodies, in each provider's shape
# ------------------------------------------------------------------------------------------------------------

def openai_error(message: str, type_: str = "invalid_request_error", param: str | None = None,
                 code: str | None = None) -> dict:
    """An error body in OpenAI's shape."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def azure_error(code: str, message: str) -> dict:
    """An error body in Azure OpenAI's shape."""
    return {"error": {"code": code, "message": message}}


def mask_key(key: str) -> str:
    """A key as OpenAI shows it in errors: a few characters at each end, the rest starred."""
    if len(key) <= 8:
        return "*" * len(key)
    return key[:3] + "*" * (len(key) - 7) + key[-4:]


AZURE_401 = azure_error("401", "Access denied due to invalid subscription key or wrong API endpoint. Make sure to "
                               "provide a valid key for an active subscription and use a correct regional API "
                               "endpoint for your resource.")
AZURE_404 = azure_error("404", "Resource not found")
AZURE_DEPLOYMENT_NOT_FOUND = azure_error(
    "DeploymentNotFound", "The API deployment for this resource does not exist. If you created the deployment "
                          "within the last 5 minutes, please wait a moment and try again.")
OPENAI_CHAT_MODEL_ON_COMPLETIONS = openai_error(
    "This is a chat model and not supported in the v1/completions endpoint. Did you mean to use v1/chat/completions?",
    param="model")
OPENAI_NOT_CHAT_MODEL = openai_error(
    "This is not a chat model and thus not supported in the v1/chat/completions endpoint. Did you mean to use "
    "v1/completions?", param="model")


def azure_operation_not_supported(operation: str, model: str) -> dict:
    """Azure's 400 body for an operation (chatCompletion, completion, embeddings) the deployment's model lacks."""
    return azure_error("OperationNotSupported", f"The {operation} operation does not work with the specified model, "
                       f"{model}. Please choose different model and try again. You can learn more about which "
                       "models can be used with each operation here: https://go.microsoft.com/fwlink/?linkid=2197993.")


class Answer(Exception):
    """A reply the stand-in makes itself (an error or a listing): status, JSON payload, extra headers."""

    def __init__(self, status: int, payload: dict, headers: dict | None = None):
        super().__init__(status)
        self.status, self.payload, self.headers = status, payload, headers or {}


class Forward:
    """A request to pass upstream: the upstream path, the body, and the model names to swap in and back out."""

    def __init__(self, path: str, body: dict, upstream_model: str, public_model: str, annotate: bool = False):
        self.path, self.body, self.upstream_model, self.public_model = path, body, upstream_model, public_model
        self.annotate = annotate  # add Azure's content-filter results to the answer


# ------------------------------------------------------------------------------------------------------------
# The server
# ------------------------------------------------------------------------------------------------------------

class StandinServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer that answers as OpenAI or Azure OpenAI and forwards to an OpenAI-compatible upstream."""

    daemon_threads = True
    request_queue_size = 64

    def __init__(self, address, upstream_base_url: str, upstream_chat_model: str, upstream_embedding_model: str,
                 flavor: str = "openai", api_key: str = STANDIN_API_KEY, fail_first: int = 0, log: str | None = None,
                 chat_deployments=AZURE_CHAT_DEPLOYMENTS, embedding_deployment: str = AZURE_EMBEDDING_DEPLOYMENT,
                 instruct_deployment: str | None = AZURE_INSTRUCT_DEPLOYMENT, content_filter: bool = True,
                 upstream_api_key: str = ""):
        if flavor not in ("openai", "azure"):
            raise ValueError(f"flavor must be 'openai' or 'azure', not {flavor!r}")
        if not api_key:
            raise ValueError("the stand-in needs an api_key to check")
        super().__init__(address, StandinHandler)
        up = urlsplit(upstream_base_url.rstrip("/"))
        self.upstream_scheme, self.upstream_netloc, self.upstream_prefix = up.scheme, up.netloc, up.path
        self.upstream_chat_model, self.upstream_embedding_model = upstream_chat_model, upstream_embedding_model
        self.upstream_api_key = upstream_api_key
        self.flavor, self.api_key, self.fail_remaining, self.log_path = flavor, api_key, fail_first, log
        self.chat_deployments = tuple(chat_deployments)
        self.embedding_deployment, self.instruct_deployment = embedding_deployment, instruct_deployment or None
        self.content_filter = content_filter
        self.calls: list[dict] = []
        self._lock = threading.Lock()

    def shutdown(self) -> None:
        """Stop serving and free the port."""
        super().shutdown()
        self.server_close()

    # -- bookkeeping -----------------------------------------------------------------------------------------
    def take_rate_limit(self) -> bool:
        """True if this POST is one of the first `fail_first` and must be answered 429."""
        with self._lock:
            if self.fail_remaining > 0:
                self.fail_remaining -= 1
                return True
            return False

    def record(self, method: str, path: str, model: str | None, status: int) -> None:
        """Append one call to `calls` and to the log file (never headers or keys)."""
        endpoint = next((name for suffix, name in ENDPOINTS if path.endswith(suffix) or f"{suffix}/" in path),
                        "other")
        entry = {"method": method, "path": path, "model": model, "status": status, "endpoint": endpoint}
        with self._lock:
            self.calls.append(entry)
            if self.log_path:
                with open(self.log_path, "a", encoding="utf-8") as f:
                    f.write(json.dumps(entry) + "\n")

    def upstream_connection(self) -> http.client.HTTPConnection:
        """A fresh connection to the upstream server."""
        kind = http.client.HTTPSConnection if self.upstream_scheme == "https" else http.client.HTTPConnection
        return kind(self.upstream_netloc, timeout=FORWARD_TIMEOUT_S)

    # -- routing: OpenAI -------------------------------------------------------------------------------------
    def route_openai(self, method: str, path: str, headers, body: bytes) -> Forward:
        """Check an OpenAI request and say what to forward, or raise Answer with OpenAI's reply."""
        invalid_url = Answer(404, openai_error(f"Invalid URL ({method} {path})"))
        if not path.startswith("/v1/"):
            raise invalid_url
        auth = headers.get("authorization", "")
        if not auth.startswith("Bearer ") or not auth[7:].strip():
            raise Answer(401, openai_error("You didn't provide an API key. You need to provide your API key in an "
                                           "Authorization header using Bearer auth (i.e. Authorization: Bearer "
                                           "YOUR_KEY), or as the password field (with blank username) if you're "
                                           "accessing the API from your browser and are prompted for a username "
                                           "and password. You can obtain an API key from "
                                           "https://platform.openai.com/account/api-keys."))
        if auth[7:].strip() != self.api_key:
            raise Answer(401, openai_error(f"Incorrect API key provided: {mask_key(auth[7:].strip())}. You can find "
                                           "your API key at https://platform.openai.com/account/api-keys.",
                                           code="invalid_api_key"))
        route = path[3:]
        if method == "GET" and route == "/models":
            raise Answer(200, {"object": "list", "data": OPENAI_MODEL_CARDS})
        if method == "GET" and route.startswith("/models/"):
            name = route[len("/models/"):]
            card = next((c for c in OPENAI_MODEL_CARDS if c["id"] == name), None)
            if card is None:
                raise Answer(404, openai_error(f"The model '{name}' does not exist", param="model",
                                               code="model_not_found"))
            raise Answer(200, card)
        if method != "POST" or route not in ("/chat/completions", "/completions", "/embeddings"):
            raise invalid_url
        request = self.parse_body(body)
        model = request.get("model")
        if not isinstance(model, str) or not model:
            raise Answer(400, openai_error("you must provide a model parameter"))
        if self.take_rate_limit():
            raise Answer(429, openai_error(
                f"Rate limit reached for {model} in organization org-standin on requests per min (RPM): Limit 3, "
                f"Used 3, Requested 1. Please try again in {RETRY_AFTER_S}s. Visit "
                "https://platform.openai.com/account/rate-limits to learn more.", type_="requests",
                code="rate_limit_exceeded"), retry_headers())
        known = [c["id"] for c in OPENAI_MODEL_CARDS]
        if model not in known:
            raise Answer(404, openai_error(f"The model `{model}` does not exist or you do not have access to it.",
                                           code="model_not_found"))
        if route == "/chat/completions":
            if model == OPENAI_REASONING_MODEL:
                check_reasoning_parameters(request)
            elif model not in OPENAI_CHAT_MODELS:
                raise Answer(404, OPENAI_NOT_CHAT_MODEL)
            check_stop(request)
            return Forward(route, request, self.upstream_chat_model, model)
        if route == "/completions":
            if model in OPENAI_CHAT_MODELS:
                raise Answer(404, OPENAI_CHAT_MODEL_ON_COMPLETIONS)
            if model != OPENAI_INSTRUCT_MODEL:
                raise Answer(404, openai_error("This model is not supported in the v1/completions endpoint.",
                                               param="model"))
            check_stop(request)
            return Forward(route, request, self.upstream_chat_model, model)
        if model != OPENAI_EMBEDDING_MODEL:
            raise Answer(403, openai_error("You are not allowed to generate embeddings from this model"))
        return Forward(route, request, self.upstream_embedding_model, model)

    # -- routing: Azure OpenAI -------------------------------------------------------------------------------
    def azure_model(self, deployment: str) -> str | None:
        """The model behind an Azure deployment name, or None if there is no such deployment."""
        if deployment in self.chat_deployments:
            return deployment if deployment in OPENAI_CHAT_MODELS else OPENAI_CHAT_MODELS[0]
        if deployment == self.embedding_deployment:
            return OPENAI_EMBEDDING_MODEL
        if self.instruct_deployment and deployment == self.instruct_deployment:
            return AZURE_INSTRUCT_DEPLOYMENT
        return None

    def azure_deployments(self) -> list[str]:
        """Every deployment name this resource has."""
        return [*self.chat_deployments, self.embedding_deployment, *filter(None, [self.instruct_deployment])]

    def route_azure(self, method: str, path: str, query: dict, headers, body: bytes) -> Forward:
        """Check an Azure OpenAI request and say what to forward, or raise Answer with Azure's reply."""
        if not path.startswith("/openai/") or not query.get("api-version", [""])[0]:
            raise Answer(404, AZURE_404)
        if headers.get("api-key", "") != self.api_key:
            raise Answer(401, AZURE_401)
        parts = path.split("/")[2:]  # /openai/deployments/{name}/chat/completions -> deployments, {name}, chat, ...
        if method == "GET" and parts == ["models"]:
            raise Answer(200, {"object": "list", "data": [
                {"id": self.azure_model(d), "object": "model", "status": "succeeded", "created_at": AZURE_CREATED_AT,
                 "capabilities": {"chat_completion": d in self.chat_deployments,
                                  "completion": d == self.instruct_deployment,
                                  "embeddings": d == self.embedding_deployment}}
                for d in self.azure_deployments()]})
        if method == "GET" and parts[0] == "deployments" and len(parts) <= 2:
            cards = [{"id": d, "model": self.azure_model(d), "owner": "organization-owner", "status": "succeeded",
                      "object": "deployment", "created_at": AZURE_CREATED_AT, "updated_at": AZURE_CREATED_AT,
                      "scale_settings": {"scale_type": "standard"}} for d in self.azure_deployments()]
            if len(parts) == 1:
                raise Answer(200, {"object": "list", "data": cards})
            card = next((c for c in cards if c["id"] == parts[1]), None)
            if card is None:
                raise Answer(404, AZURE_DEPLOYMENT_NOT_FOUND)
            raise Answer(200, card)
        operation = "/" + "/".join(parts[2:])
        if method != "POST" or parts[0] != "deployments" or len(parts) < 3 or operation not in (
                "/chat/completions", "/completions", "/embeddings"):
            raise Answer(404, AZURE_404)
        deployment = parts[1]
        request = self.parse_body(body)
        if self.take_rate_limit():
            name = {"/chat/completions": "ChatCompletions", "/completions": "Completions",
                    "/embeddings": "Embeddings"}[operation]
            raise Answer(429, azure_error("429", f"Requests to the {name}_Create Operation under Azure OpenAI API "
                                                 f"version {query['api-version'][0]} have exceeded token rate limit of "
                                                 "your current OpenAI S0 pricing tier. Please retry after "
                                                 f"{RETRY_AFTER_S} second. Please go here: "
                                                 "https://aka.ms/oai/quotaincrease if you would like to further "
                                                 "increase the default rate limit."), retry_headers())
        model = self.azure_model(deployment)
        if model is None:
            raise Answer(404, AZURE_DEPLOYMENT_NOT_FOUND)
        if operation == "/chat/completions":
            if deployment not in self.chat_deployments:
                raise Answer(400, azure_operation_not_supported("chatCompletion", model))
            check_stop(request)
            return Forward(operation, request, self.upstream_chat_model, deployment, self.content_filter)
        if operation == "/completions":
            if deployment != self.instruct_deployment:
                raise Answer(400, azure_operation_not_supported("completion", model))
            check_stop(request)
            return Forward(operation, request, self.upstream_chat_model, deployment, self.content_filter)
        if deployment != self.embedding_deployment:
            raise Answer(400, azure_operation_not_supported("embeddings", model))
        return Forward(operation, request, self.upstream_embedding_model, deployment)

    def parse_body(self, body: bytes) -> dict:
        """The request's JSON object, or a 400 in the provider's shape."""
        try:
            request = json.loads(body or b"null")
        except ValueError:
            request = None
        if isinstance(request, dict):
            return request
        message = ("We could not parse the JSON body of your request. (HINT: This likely means you aren't using your "
                   "HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid "
                   "JSON.)")
        raise Answer(400, openai_error(message) if self.flavor == "openai" else azure_error("BadRequest", message))


def check_stop(request: dict) -> None:
    """Raise OpenAI's 400 if `stop` lists more than 4 sequences."""
    stop = request.get("stop")
    if isinstance(stop, list) and len(stop) > 4:
        raise Answer(400, openai_error(f"Invalid 'stop': array too long. Expected an array with maximum length 4, but "
                                       f"got an array with length {len(stop)} instead.", param="stop",
                                       code="array_above_max_length"))


def check_reasoning_parameters(request: dict) -> None:
    """Raise OpenAI's 400 for the parameters its reasoning models refuse."""
    if "max_tokens" in request:
        raise Answer(400, openai_error("Unsupported parameter: 'max_tokens' is not supported with this model. Use "
                                       "'max_completion_tokens' instead.", param="max_tokens",
                                       code="unsupported_parameter"))
    if request.get("stop"):
        raise Answer(400, openai_error("Unsupported parameter: 'stop' is not supported with this model.",
                                       param="stop", code="unsupported_parameter"))


def retry_headers() -> dict:
    """The headers of a 429: how long to wait, in seconds and in milliseconds."""
    return {"Retry-After": str(RETRY_AFTER_S), "retry-after-ms": str(RETRY_AFTER_S * 1000)}


def annotate_azure(payload: dict) -> None:
    """Add the content-filter results Azure OpenAI puts in chat and completion answers."""
    payload.setdefault("prompt_filter_results", [{"prompt_index": 0, "content_filter_results": AZURE_FILTER}])
    for choice in payload.get("choices") or []:
        choice.setdefault("content_filter_results", AZURE_FILTER)


# ------------------------------------------------------------------------------------------------------------
# The request handler
# ------------------------------------------------------------------------------------------------------------

class StandinHandler(BaseHTTPRequestHandler):
    """Answers one HTTP request: checks it as the provider would, then replies itself or forwards upstream."""

    protocol_version = "HTTP/1.1"
    server: StandinServer

    def log_message(self, fmt, *args):  # quiet: the call log is the record, and headers must never be printed
        pass

    def do_GET(self):  # noqa: N802 (http.server's naming)
        self.handle_call("GET")

    def do_POST(self):  # noqa: N802
        self.handle_call("POST")

    def handle_call(self, method: str) -> None:
        """Route and answer one request; it is recorded just before the answer goes out."""
        url = urlsplit(self.path)
        path = url.path.rstrip("/") or "/"
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        server = self.server
        if server.flavor == "openai":
            model = _model_of(body) if method == "POST" else None
        else:
            parts = path.split("/")
            model = parts[3] if len(parts) > 3 and parts[1:3] == ["openai", "deployments"] else None
        self.call = (method, path, model)
        try:
            if server.flavor == "openai":
                forward = server.route_openai(method, path, self.headers, body)
            else:
                forward = server.route_azure(method, path, parse_qs(url.query), self.headers, body)
            self.forward(forward)
        except Answer as answer:
            self.send_json(answer.status, json.dumps(answer.payload).encode(), answer.headers)

    def send_json(self, status: int, data: bytes, headers: dict | None = None,
                  content_type: str = "application/json") -> None:
        """Record the call, then send a whole (JSON) reply with the provider's request-id header."""
        self.server.record(*self.call, status)
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(data)))
        for name, value in {**self.request_id_header(), **(headers or {})}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def request_id_header(self) -> dict:
        """The request-id header OpenAI (x-request-id) or Azure (apim-request-id) sends."""
        if self.server.flavor == "openai":
            return {"x-request-id": f"req_{uuid.uuid4().hex}"}
        return {"apim-request-id": str(uuid.uuid4())}

    def forward(self, fwd: Forward) -> None:
        """Send `fwd` upstream and relay the answer (streamed or whole) with the public model name."""
        server = self.server
        data = json.dumps({**fwd.body, "model": fwd.upstream_model}).encode()
        headers = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
        if server.upstream_api_key:
            headers["authorization"] = f"Bearer {server.upstream_api_key}"
        conn = server.upstream_connection()
        try:
            try:
                conn.request("POST", server.upstream_prefix + fwd.path, body=data, headers=headers)
                resp = conn.getresponse()
            except OSError as exc:
                message = f"The upstream server did not answer: {type(exc).__name__}."
                payload = (openai_error(message, type_="server_error") if server.flavor == "openai"
                           else azure_error("502", message))
                raise Answer(502, payload) from None
            content_type = resp.getheader("content-type", "application/json")
            if resp.status < 400 and content_type.startswith("text/event-stream"):
                self.relay_stream(resp, fwd)
                return
            raw = resp.read()
            if resp.status < 400:
                try:
                    payload = json.loads(raw)
                    payload["model"] = fwd.public_model
                    if fwd.annotate:
                        annotate_azure(payload)
                    raw = json.dumps(payload).encode()
                except (ValueError, TypeError):
                    pass
            self.send_json(resp.status, raw, content_type=content_type)
        finally:
            conn.close()

    def relay_stream(self, resp: http.client.HTTPResponse, fwd: Forward) -> None:
        """Record the call, then pass a server-sent-event stream through, rewriting "model" in each `data:` line."""
        self.server.record(*self.call, resp.status)
        self.send_response(resp.status)
        self.send_header("content-type", "text/event-stream; charset=utf-8")
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        for name, value in self.request_id_header().items():
            self.send_header(name, value)
        self.end_headers()
        try:
            if fwd.annotate and fwd.path == "/chat/completions":  # Azure's first chunk: the prompt's filter results
                first = {"choices": [], "created": 0, "id": "", "model": "", "object": "",
                         "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": AZURE_FILTER}]}
                self.write_chunk(b"data: " + json.dumps(first).encode() + b"\n\n")
            for line in iter(resp.readline, b""):
                if line.startswith(b"data:") and line[5:].strip() not in (b"", b"[DONE]"):
                    try:
                        event = json.loads(line[5:])
                        if isinstance(event, dict) and "model" in event:
                            event["model"] = fwd.public_model
                        line = b"data: " + json.dumps(event).encode() + b"\n"
                    except ValueError:
                        pass
                self.write_chunk(line)
            self.write_chunk(b"")
        except OSError:  # the client went away: stop relaying
            self.close_connection = True

    def write_chunk(self, data: bytes) -> None:
        """Write one chunk of a chunked reply (an empty one ends it)."""
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()


def _model_of(body: bytes) -> str | None:
    """The `model` of a JSON request body, if there is one (for the call log)."""
    try:
        model = json.loads(body).get("model")
    except (ValueError, AttributeError):
        return None
    return model if isinstance(model, str) else None


# ------------------------------------------------------------------------------------------------------------
# Starting it
# ------------------------------------------------------------------------------------------------------------

def start_standin(upstream_base_url: str, upstream_chat_model: str, upstream_embedding_model: str,
                  flavor: str = "openai", api_key: str = STANDIN_API_KEY, port: int = 0, fail_first: int = 0,
                  log: str | None = None, chat_deployments=AZURE_CHAT_DEPLOYMENTS,
                  embedding_deployment: str = AZURE_EMBEDDING_DEPLOYMENT,
                  instruct_deployment: str | None = AZURE_INSTRUCT_DEPLOYMENT, content_filter: bool = True,
                  upstream_api_key: str = "", host: str = "127.0.0.1") -> tuple[StandinServer, str]:
    """Start a stand-in in a daemon thread; returns it and its base URL (OpenAI) or endpoint (Azure)."""
    server = StandinServer((host, port), upstream_base_url, upstream_chat_model, upstream_embedding_model,
                           flavor=flavor, api_key=api_key, fail_first=fail_first, log=log,
                           chat_deployments=chat_deployments, embedding_deployment=embedding_deployment,
                           instruct_deployment=instruct_deployment, content_filter=content_filter,
                           upstream_api_key=upstream_api_key)
    threading.Thread(target=server.serve_forever, args=(0.05,), name=f"standin-{flavor}", daemon=True).start()
    address = f"http://{host}:{server.server_address[1]}"
    return server, address + "/v1" if flavor == "openai" else address


def main(argv: list[str] | None = None) -> None:
    """Run a stand-in from the command line until killed; prints its address on one line once ready."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", required=True, help="upstream base URL, e.g. http://127.0.0.1:8000/v1")
    parser.add_argument("--chat-model", required=True, help="the upstream's chat model")
    parser.add_argument("--embedding-model", required=True, help="the upstream's embedding model")
    parser.add_argument("--flavor", choices=("openai", "azure"), default="openai")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--api-key", default=STANDIN_API_KEY, help="the key clients must send")
    parser.add_argument("--log", help="append one JSON line per call to this file")
    parser.add_argument("--fail-first", type=int, default=0, help="answer the first N POSTs with 429")
    parser.add_argument("--chat-deployment", action="append", help="Azure chat deployment name (repeatable)")
    parser.add_argument("--embedding-deployment", default=AZURE_EMBEDDING_DEPLOYMENT)
    parser.add_argument("--instruct-deployment", default=AZURE_INSTRUCT_DEPLOYMENT, help="'' for none")
    parser.add_argument("--no-content-filter", action="store_true", help="leave out Azure's content-filter results")
    parser.add_argument("--upstream-api-key", default="", help="key the upstream server wants, if any")
    args = parser.parse_args(argv)
    server, address = start_standin(
        args.upstream, args.chat_model, args.embedding_model, flavor=args.flavor, api_key=args.api_key,
        port=args.port, fail_first=args.fail_first, log=args.log,
        chat_deployments=args.chat_deployment or AZURE_CHAT_DEPLOYMENTS, embedding_deployment=args.embedding_deployment,
        instruct_deployment=args.instruct_deployment, content_filter=not args.no_content_filter,
        upstream_api_key=args.upstream_api_key, host=args.host)
    print(address, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()


if __name__ == "__main__":
    main()
