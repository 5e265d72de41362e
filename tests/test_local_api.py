"""The local provider (llama.cpp in-process) through the real OpenAI SDK: chat, raw completions, the chat template,
concurrency, prompt caching, sampling, errors, streaming."""

import openai
import pytest

MODEL = "gemma-3-270m"
CONVERSATIONS = [
    [{"role": "user", "content": "Name a fruit."}],
    [{"role": "system", "content": "You answer in one sentence."}, {"role": "user", "content": "  Why recycle?  "}],
    [{"role": "system", "content": "Label reviews."}, {"role": "user", "content": "Great soap."},
     {"role": "assistant", "content": "positive"}, {"role": "user", "content": "Leaky bottle."}],
]


def test_models_list(client):
    ids = [m.id for m in client.models.list()]
    assert MODEL in ids and "all-MiniLM-L6-v2" in ids
    assert client.models.retrieve(MODEL).id == MODEL


@pytest.mark.parametrize("messages", CONVERSATIONS)
def test_the_server_renders_chat_exactly_as_render_chat(engine, messages):
    from course_lib.runtime.chat_format import render_chat

    assert engine.apply_template(messages) == render_chat(messages)[0]


def test_greedy_chat_is_reproducible_and_counts_the_rendered_tokens(client, engine):
    from course_lib.runtime.chat_format import render_chat

    messages = CONVERSATIONS[1]
    a = client.chat.completions.create(model=MODEL, messages=messages, max_tokens=12, temperature=0)
    b = client.chat.completions.create(model=MODEL, messages=messages, max_tokens=12, temperature=0)
    assert a.choices[0].message.content == b.choices[0].message.content and a.choices[0].message.content
    assert a.usage.prompt_tokens == engine.count_tokens(render_chat(messages)[0])
    assert a.usage.total_tokens == a.usage.prompt_tokens + a.usage.completion_tokens
    assert a.model == MODEL


def test_chat_stops_when_the_model_starts_the_next_turn(client):
    chat = client.chat.completions.create(model=MODEL, max_tokens=60, temperature=0, messages=CONVERSATIONS[2])
    message = chat.choices[0].message
    assert message.role == "assistant" and message.content
    assert "User" not in message.content


def test_raw_completion_continues_text_and_stop_strings_cut_it(client):
    full = client.completions.create(model=MODEL, prompt="1, 2, 3, 4,", max_tokens=10, temperature=0).choices[0]
    assert "," in full.text and full.finish_reason == "length"
    cut = client.completions.create(model=MODEL, prompt="1, 2, 3, 4,", max_tokens=10, temperature=0, stop=[","])
    assert "," not in cut.choices[0].text and cut.choices[0].finish_reason == "stop"
    assert cut.choices[0].text == full.text.split(",")[0]


def test_seeded_sampling_repeats_and_n_gives_several(client, engine):
    """A seed repeats a sample on a freshly started engine. Once other requests have filled its cache, a sample can
    differ (the sums run over another cache layout, and a sampled token moves with the last bit), as OpenAI says
    of its own seed: best effort."""
    kwargs = dict(model=MODEL, messages=CONVERSATIONS[0], max_tokens=10, temperature=1.0, n=3, seed=11)
    samples = []
    for _ in range(2):
        engine.close()  # restarts on the next request, with an empty cache
        samples.append([c.message.content for c in client.chat.completions.create(**kwargs).choices])
    a, b = samples
    assert a == b
    assert len(a) == 3 and len(set(a)) > 1


def test_streaming_chat_yields_the_same_text(client):
    messages = CONVERSATIONS[0]
    whole = client.chat.completions.create(model=MODEL, messages=messages, max_tokens=8, temperature=0)
    stream = client.chat.completions.create(model=MODEL, messages=messages, max_tokens=8, temperature=0, stream=True,
                                            stream_options={"include_usage": True})
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == whole.choices[0].message.content
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens


def test_embeddings_endpoint(client):
    out = client.embeddings.create(model="all-MiniLM-L6-v2", input=["Are eyeglasses covered?", "Vision benefits"])
    assert len(out.data) == 2 and len(out.data[0].embedding) == 384


def test_unknown_model_is_a_clear_not_found(client):
    with pytest.raises(openai.NotFoundError, match="does not exist on this server; it serves"):
        client.chat.completions.create(model="gpt-4o", messages=CONVERSATIONS[0], max_tokens=1)


@pytest.mark.parametrize("kwargs, fragment", [
    (dict(max_tokens=0), "max_tokens"),
    (dict(temperature=5), "temperature"),
    (dict(stop=["a", "b", "c", "d", "e"]), "stop"),
    (dict(n=100), "'n'"),
])
def test_bad_parameters_are_bad_requests(client, kwargs, fragment):
    with pytest.raises(openai.BadRequestError, match=fragment):
        client.chat.completions.create(model=MODEL, messages=CONVERSATIONS[0], **{"max_tokens": 2, **kwargs})


def test_more_answers_than_slots_is_a_clear_bad_request(client):
    from course_lib.llm import local_engine

    slots = local_engine(client).slots  # llama.cpp decodes one request's answers together, one per slot
    with pytest.raises(openai.BadRequestError, match=f"'n' must be a number from 1 to {slots} .one answer per slot"):
        client.chat.completions.create(model=MODEL, messages=CONVERSATIONS[0], max_tokens=2, n=slots + 1)


def test_a_prompt_longer_than_a_slot_is_a_clear_bad_request(client):
    from course_lib.runtime.engine import SLOT_CONTEXT_TOKENS

    too_long = [{"role": "user", "content": "word " * SLOT_CONTEXT_TOKENS}]
    with pytest.raises(openai.BadRequestError, match=f"at most {SLOT_CONTEXT_TOKENS} tokens, prompt and answer") as err:
        client.chat.completions.create(model=MODEL, messages=too_long, max_tokens=2)
    assert "try increasing it" not in str(err.value)  # a learner cannot: the course sets the size


def test_malformed_messages_are_a_bad_request(client):
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model=MODEL, messages=[{"role": "user"}], max_tokens=2)


def test_chat_many_matches_single_calls(client):
    """Requests decoded together in llama.cpp's slots give the answers each gives alone."""
    from course_lib.llm import chat_many

    questions = ["Name a colour.", "Name an animal.", "Name a tool.", "Name a city.", "Name a soap.", "Name a tree.",
                 "Name a drink.", "Name a sport.", "Name a river.", "Name a metal."]
    conversations = [[{"role": "user", "content": q}] for q in questions]
    answers = chat_many(client, MODEL, conversations, max_tokens=8, progress=False)
    for conversation, answer in zip(conversations, answers, strict=True):
        single = client.chat.completions.create(model=MODEL, messages=conversation, max_tokens=8, temperature=0)
        assert answer.text == single.choices[0].message.content
        assert answer.prompt_tokens == single.usage.prompt_tokens
        assert answer.completion_tokens == single.usage.completion_tokens


def test_a_shared_beginning_is_computed_once_and_reused(client):
    """Few-shot evaluations send one long beginning with many short endings: llama.cpp keeps a slot's prompt and a
    request that starts the same way computes only its new tokens (needs the full sliding-window cache)."""
    shots = []
    for w in ("kettle", "lamp", "mop", "towel", "candle", "brush"):
        shots += [{"role": "user", "content": f"The {w} arrived on time and works well."},
                  {"role": "assistant", "content": "positive"},
                  {"role": "user", "content": f"The {w} broke after a day."},
                  {"role": "assistant", "content": "negative"}]
    first = client.chat.completions.create(model=MODEL, messages=[*shots, {"role": "user", "content": "Great jar."}],
                                           max_tokens=2, temperature=0)
    second = client.chat.completions.create(model=MODEL, messages=[*shots, {"role": "user", "content": "Bad mat."}],
                                            max_tokens=2, temperature=0)
    assert first.usage.prompt_tokens > 150
    assert second.usage.prompt_tokens_details.cached_tokens >= first.usage.prompt_tokens - 10
