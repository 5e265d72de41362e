"""The local provider through the real OpenAI SDK: completions, chat, batching, sampling, errors, streaming."""

import openai
import pytest

MODEL = "gemma-3-270m"


def test_models_list(client):
    ids = [m.id for m in client.models.list()]
    assert MODEL in ids and "all-MiniLM-L6-v2" in ids
    assert client.models.retrieve(MODEL).id == MODEL


def test_greedy_completion_is_reproducible_and_counts_tokens(client, engine):
    kwargs = dict(model=MODEL, prompt="The three primary colours are", max_tokens=8, temperature=0)
    a, b = client.completions.create(**kwargs), client.completions.create(**kwargs)
    assert a.choices[0].text == b.choices[0].text and a.choices[0].text.strip()
    assert a.usage.prompt_tokens == engine.count_tokens("The three primary colours are")
    assert a.usage.completion_tokens == 8 and a.choices[0].finish_reason == "length"
    assert a.usage.total_tokens == a.usage.prompt_tokens + a.usage.completion_tokens


def test_batched_prompts_match_one_by_one(client):
    prompts = ["Soap is made from", "The capital of Japan is", "A refill pouch is"]
    batch = client.completions.create(model=MODEL, prompt=prompts, max_tokens=6, temperature=0)
    assert [c.index for c in batch.choices] == [0, 1, 2]
    for prompt, choice in zip(prompts, batch.choices, strict=True):
        single = client.completions.create(model=MODEL, prompt=prompt, max_tokens=6, temperature=0)
        assert choice.text == single.choices[0].text


def test_stop_strings_cut_the_text(client):
    full = client.completions.create(model=MODEL, prompt="1, 2, 3, 4,", max_tokens=10, temperature=0).choices[0]
    assert "," in full.text
    cut = client.completions.create(model=MODEL, prompt="1, 2, 3, 4,", max_tokens=10, temperature=0, stop=[","])
    assert "," not in cut.choices[0].text and cut.choices[0].finish_reason == "stop"
    assert cut.choices[0].text == full.text.split(",")[0]


def test_seeded_sampling_repeats_and_n_gives_several(client):
    kwargs = dict(model=MODEL, prompt="Once upon a time", max_tokens=10, temperature=1.0, n=3, seed=11)
    a, b = client.completions.create(**kwargs), client.completions.create(**kwargs)
    assert [c.text for c in a.choices] == [c.text for c in b.choices]
    assert len(a.choices) == 3 and len({c.text for c in a.choices}) > 1


def test_chat_completion_renders_messages_and_stops_at_next_turn(client):
    chat = client.chat.completions.create(model=MODEL, max_tokens=30, temperature=0, messages=[
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": "What colour is the sky on a clear day?"}])
    message = chat.choices[0].message
    assert message.role == "assistant" and message.content
    assert "User:" not in message.content
    assert chat.usage.prompt_tokens > 10


def test_streaming_chat_yields_the_same_text(client):
    messages = [{"role": "user", "content": "Name a fruit."}]
    whole = client.chat.completions.create(model=MODEL, messages=messages, max_tokens=8, temperature=0)
    stream = client.chat.completions.create(model=MODEL, messages=messages, max_tokens=8, temperature=0, stream=True)
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text == whole.choices[0].message.content


def test_embeddings_endpoint(client):
    out = client.embeddings.create(model="all-MiniLM-L6-v2", input=["Are eyeglasses covered?", "Vision benefits"])
    assert len(out.data) == 2 and len(out.data[0].embedding) == 384


def test_unknown_model_is_a_clear_not_found(client):
    with pytest.raises(openai.NotFoundError, match="does not exist on this server; it serves"):
        client.completions.create(model="gpt-4o", prompt="hi", max_tokens=1)


@pytest.mark.parametrize("kwargs, fragment", [
    (dict(max_tokens=0), "max_tokens"),
    (dict(temperature=5), "temperature"),
    (dict(stop=["a", "b", "c", "d", "e"]), "stop"),
    (dict(logprobs=3), "logprobs"),
])
def test_bad_parameters_are_bad_requests(client, kwargs, fragment):
    with pytest.raises(openai.BadRequestError, match=fragment):
        client.completions.create(model=MODEL, prompt="hi", **{"max_tokens": 2, **kwargs})


def test_chat_many_matches_single_calls(client):
    from course_lib.llm import chat_many

    conversations = [[{"role": "user", "content": q}] for q in ("Name a colour.", "Name an animal.")]
    answers = chat_many(client, MODEL, conversations, max_tokens=8, progress=False)
    for conversation, answer in zip(conversations, answers, strict=True):
        single = client.chat.completions.create(model=MODEL, messages=conversation, max_tokens=8, temperature=0)
        assert answer.text == single.choices[0].message.content
        assert answer.prompt_tokens == single.usage.prompt_tokens
        assert answer.completion_tokens == single.usage.completion_tokens


def test_a_shared_prefix_is_prefilled_once_per_call_and_reused_by_the_next(engine):
    """Few-shot prompts start alike: the engine prefills that beginning once for all batches of a call, keeps it for
    later calls, and answers exactly as if it had computed it again."""
    prefix = "".join(f"Review: the {w} arrived on time and works well.\nSentiment: positive\n"
                     f"Review: the {w} broke after a day.\nSentiment: negative\n" for w in ("kettle", "lamp", "mop"))
    items = ["sponge", "bucket", "towel", "candle", "brush", "jar", "soap", "mat", "basket"]
    prompts = [f"{prefix}Review: the {w} is {'great' if i % 2 else 'useless'}.\nSentiment:"
               for i, w in enumerate(items)]
    net = engine._model(MODEL)
    n_prefix = engine._shared_prefix([engine.tokenizer(p).input_ids for p in prompts])
    assert n_prefix >= 32
    prefills = []
    hook = net.model.register_forward_pre_hook(
        lambda module, args, kwargs: prefills.append(kwargs["input_ids"].shape), with_kwargs=True)
    try:
        net.__dict__.pop("_course_prefix_store", None)
        first = engine.generate(prompts[:6], max_tokens=2, batch_size=2)  # three batches, one prefix prefill
        assert prefills.count((1, n_prefix)) == 1
        again = engine.generate(prompts[3:], max_tokens=2, batch_size=2)  # another call, same beginning
        assert prefills.count((1, n_prefix)) == 1
    finally:
        hook.remove()
    assert [g[0].text for g in again[:3]] == [g[0].text for g in first[3:]]
    net.__dict__.pop("_course_prefix_store", None)  # computed afresh, the answers are the same
    assert [g[0].text for g in engine.generate(prompts[3:], max_tokens=2, batch_size=2)] == [g[0].text for g in again]
    assert {g[0].text.strip() for g in first} <= {"positive", "negative"}
