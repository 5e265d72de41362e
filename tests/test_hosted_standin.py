"""The hosted stand-in (tests/hosted_standin.py) answers like OpenAI and Azure OpenAI, checked with the real clients.

The upstream here is a tiny in-test echo server (the reply is the last user message; embeddings have 8 numbers),
because these tests are about the stand-in's protocol behaviour, not about generating.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import openai
import pytest
from hosted_standin import STANDIN_API_KEY, start_standin
from standin_fixtures import chat_model_on_completions, read_call_log, start_standin_process

API_VERSION = "2024-10-21"
UP_CHAT, UP_EMB = "up-chat", "up-emb"  # the upstream's model names
SLOW_S = 0.6  # how long the upstream takes for the message "slow"
CHAT_ON_COMPLETIONS = ("This is a chat model and not supported in the v1/completions endpoint. Did you mean to use "
                       "v1/chat/completions?")
AZURE_NO_COMPLETIONS = "The completion operation does not work with the specified model, gpt-4o-mini."


class EchoUpstream(BaseHTTPRequestHandler):
    """A minimal OpenAI-compatible upstream: chat echoes the last user message, completions echo the prompt."""

    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        self.server.seen.append((self.path, body.get("model")))
        base = {"id": "x-1", "created": 1, "model": body.get("model")}
        usage = {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
        if self.path == "/v1/chat/completions":
            text = [m["content"] for m in body["messages"] if m["role"] == "user"][-1]
            if text == "bad":
                return self.reply(400, {"error": {"message": "upstream says no", "type": "invalid_request_error",
                                                  "param": None, "code": None}})
            if text == "slow":
                time.sleep(SLOW_S)
            if body.get("stream"):
                return self.stream([{**base, "object": "chat.completion.chunk",
                                     "choices": [{"index": 0, "delta": {"content": word}, "finish_reason": None}]}
                                    for word in text.split(" ")])
            return self.reply(200, {**base, "object": "chat.completion", "usage": usage, "choices": [
                {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]})
        if self.path == "/v1/completions":
            return self.reply(200, {**base, "object": "text_completion", "usage": usage, "choices": [
                {"index": 0, "text": "echo: " + body["prompt"], "finish_reason": "stop", "logprobs": None}]})
        if self.path == "/v1/embeddings":
            inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
            return self.reply(200, {"object": "list", "model": body["model"], "usage": usage, "data": [
                {"object": "embedding", "index": i, "embedding": [0.125] * 8} for i in range(len(inputs))]})
        self.reply(404, {"error": {"message": "no such path", "type": "invalid_request_error"}})

    def reply(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def stream(self, events: list[dict]) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        for data in [b"data: " + json.dumps(e).encode() + b"\n\n" for e in events] + [b"data: [DONE]\n\n"]:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.write(b"0\r\n\r\n")


@pytest.fixture(scope="module")
def upstream():
    server = ThreadingHTTPServer(("127.0.0.1", 0), EchoUpstream)
    server.daemon_threads = True
    server.seen = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server, f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


@pytest.fixture
def standin(upstream, tmp_path):
    """A factory: standin(flavor, **kwargs) -> (server, address, client); all are shut down after the test."""
    servers = []

    def make(flavor: str = "openai", max_retries: int = 0, key: str = STANDIN_API_KEY, **kwargs):
        kwargs.setdefault("log", str(tmp_path / f"{flavor}.jsonl"))
        server, address = start_standin(upstream[1], UP_CHAT, UP_EMB, flavor=flavor, **kwargs)
        servers.append(server)
        if flavor == "openai":
            client = openai.OpenAI(base_url=address, api_key=key, max_retries=max_retries)
        else:
            client = openai.AzureOpenAI(azure_endpoint=address, api_key=key, api_version=API_VERSION,
                                        max_retries=max_retries)
        return server, address, client

    yield make
    for server in servers:
        server.shutdown()


def hello(client, model="gpt-4o-mini", text="hello there", **kwargs):
    return client.chat.completions.create(model=model, messages=[{"role": "user", "content": text}], **kwargs)


@pytest.mark.parametrize("flavor", ["openai", "azure"])
def test_chat_forwards_and_keeps_the_requested_model_name(standin, upstream, flavor):
    _, _, client = standin(flavor)
    reply = hello(client)
    assert reply.choices[0].message.content == "hello there"
    assert reply.model == "gpt-4o-mini"
    assert upstream[0].seen[-1] == ("/v1/chat/completions", UP_CHAT)
    if flavor == "azure":  # Azure adds its content-filter results
        assert reply.model_extra["prompt_filter_results"][0]["prompt_index"] == 0


def test_completions_with_a_chat_model_is_refused_as_openai_does(standin):
    _, _, client = standin("openai")
    with pytest.raises(openai.NotFoundError) as err:
        client.completions.create(model="gpt-4o-mini", prompt="Hi")
    assert err.value.status_code == 404
    assert CHAT_ON_COMPLETIONS in err.value.message
    assert err.value.body == {"message": CHAT_ON_COMPLETIONS, "type": "invalid_request_error", "param": "model",
                              "code": None}


def test_completions_on_a_chat_deployment_is_refused_as_azure_does(standin):
    _, _, client = standin("azure")
    with pytest.raises(openai.BadRequestError) as err:
        client.completions.create(model="gpt-4o-mini", prompt="Hi")
    assert err.value.status_code == 400
    assert AZURE_NO_COMPLETIONS in err.value.message
    assert err.value.body["code"] == "OperationNotSupported"


@pytest.mark.parametrize("flavor, model", [("openai", "gpt-3.5-turbo-instruct"), ("azure", "gpt-35-turbo-instruct")])
def test_completions_with_the_instruct_model_work(standin, upstream, flavor, model):
    _, _, client = standin(flavor)
    reply = client.completions.create(model=model, prompt="Hi")
    assert reply.choices[0].text == "echo: Hi"
    assert reply.model == model
    assert upstream[0].seen[-1] == ("/v1/completions", UP_CHAT)


@pytest.mark.parametrize("flavor", ["openai", "azure"])
def test_embeddings_forward_with_the_upstream_model(standin, upstream, flavor):
    _, _, client = standin(flavor)
    reply = client.embeddings.create(model="text-embedding-3-small", input=["a", "b"])
    assert [len(d.embedding) for d in reply.data] == [8, 8]
    assert reply.model == "text-embedding-3-small"
    assert upstream[0].seen[-1] == ("/v1/embeddings", UP_EMB)


@pytest.mark.parametrize("flavor", ["openai", "azure"])
def test_a_wrong_key_is_refused_without_echoing_it(standin, flavor):
    wrong = "sk-wrong-key-1234567890abcdef"
    server, _, client = standin(flavor, key=wrong)
    with pytest.raises(openai.AuthenticationError) as err:
        hello(client)
    assert wrong not in str(err.value.body) and STANDIN_API_KEY not in str(err.value.body)
    assert server.calls[-1]["status"] == 401


def test_unknown_models_and_deployments_are_not_found(standin):
    _, _, client = standin("openai")
    with pytest.raises(openai.NotFoundError) as err:
        hello(client, model="gpt-9")
    assert err.value.code == "model_not_found"
    _, endpoint, azure = standin("azure")
    with pytest.raises(openai.NotFoundError) as err:
        hello(azure, model="no-such-deployment")
    assert err.value.code == "DeploymentNotFound"
    with pytest.raises(urllib.error.HTTPError) as err:  # no api-version: Azure's "Resource not found"
        urllib.request.urlopen(urllib.request.Request(f"{endpoint}/openai/deployments/gpt-4o-mini/chat/completions",
                                                      data=b"{}", headers={"api-key": STANDIN_API_KEY}))
    assert err.value.code == 404 and json.loads(err.value.read())["error"]["message"] == "Resource not found"


def test_more_than_four_stop_sequences_is_a_bad_request(standin):
    _, _, client = standin("openai")
    with pytest.raises(openai.BadRequestError) as err:
        hello(client, stop=["a", "b", "c", "d", "e"])
    assert err.value.param == "stop"


def test_upstream_errors_pass_through_with_their_status(standin):
    _, _, client = standin("openai")
    with pytest.raises(openai.BadRequestError, match="upstream says no"):
        hello(client, text="bad")


def test_rate_limits_are_retried_after_retry_after(standin):
    server, _, client = standin("openai", max_retries=3, fail_first=2)
    start = time.monotonic()
    assert hello(client).choices[0].message.content == "hello there"
    assert time.monotonic() - start >= 2.0
    assert [c["status"] for c in server.calls] == [429, 429, 200]


@pytest.mark.parametrize("flavor", ["openai", "azure"])
def test_rate_limits_raise_without_retries(standin, flavor):
    _, _, client = standin(flavor, fail_first=1)
    with pytest.raises(openai.RateLimitError) as err:
        hello(client)
    assert err.value.response.headers["retry-after"] == "1"
    assert err.value.response.headers["retry-after-ms"] == "1000"
    assert hello(client).model == "gpt-4o-mini"  # only the first request was limited


@pytest.mark.parametrize("flavor", ["openai", "azure"])
def test_streaming_chat_passes_through_with_the_model_rewritten(standin, flavor):
    _, _, client = standin(flavor)
    chunks = list(hello(client, text="one two three", stream=True))
    text = [c.choices[0].delta.content for c in chunks if c.choices]
    assert " ".join(text) == "one two three"
    assert {c.model for c in chunks if c.choices} == {"gpt-4o-mini"}
    if flavor == "azure":  # Azure's first chunk carries only the prompt's filter results
        assert chunks[0].choices == [] and "prompt_filter_results" in chunks[0].model_extra


def test_the_call_log_records_endpoints_and_models(standin, tmp_path):
    log = tmp_path / "calls.jsonl"
    server, _, client = standin("openai", log=str(log))
    hello(client)
    client.embeddings.create(model="text-embedding-3-small", input="a")
    client.models.list()
    with pytest.raises(openai.NotFoundError):
        client.completions.create(model="gpt-4o-mini", prompt="Hi")
    calls = read_call_log(log)
    assert calls == server.calls
    assert [(c["endpoint"], c["model"], c["status"]) for c in calls] == [
        ("chat", "gpt-4o-mini", 200), ("embeddings", "text-embedding-3-small", 200), ("models", None, 200),
        ("completions", "gpt-4o-mini", 404)]
    assert chat_model_on_completions(calls) == [calls[-1]]
    assert STANDIN_API_KEY not in log.read_text()


def test_model_listings_look_like_the_providers(standin):
    _, _, client = standin("openai")
    models = {m.id: m for m in client.models.list()}
    assert set(models) == {"gpt-4o-mini", "gpt-4o", "o3-mini", "gpt-3.5-turbo-instruct", "text-embedding-3-small"}
    assert all(m.owned_by in ("system", "openai") and isinstance(m.created, int) for m in models.values())
    assert client.models.retrieve("gpt-4o").id == "gpt-4o"
    _, endpoint, _ = standin("azure")
    request = urllib.request.Request(f"{endpoint}/openai/deployments?api-version={API_VERSION}",
                                     headers={"api-key": STANDIN_API_KEY})
    names = [d["id"] for d in json.load(urllib.request.urlopen(request))["data"]]
    assert names == ["gpt-4o-mini", "text-embedding-3-small", "gpt-35-turbo-instruct"]


def test_concurrent_requests_are_forwarded_concurrently(standin):
    _, _, client = standin("openai")
    start = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        replies = list(pool.map(lambda _: hello(client, text="slow"), range(8)))
    assert [r.choices[0].message.content for r in replies] == ["slow"] * 8
    assert time.monotonic() - start < 4 * SLOW_S


def test_the_script_prints_its_address_and_serves(upstream, tmp_path):
    standin = start_standin_process(upstream[1], "azure", log=tmp_path / "calls.jsonl",
                                    upstream_chat_model=UP_CHAT, upstream_embedding_model=UP_EMB)
    try:
        assert standin.url.startswith("http://127.0.0.1:")
        client = openai.AzureOpenAI(azure_endpoint=standin.url, api_key=standin.api_key, api_version=API_VERSION,
                                    max_retries=0)
        assert hello(client).choices[0].message.content == "hello there"
        assert [c["endpoint"] for c in standin.calls()] == ["chat"]
    finally:
        standin.stop()
