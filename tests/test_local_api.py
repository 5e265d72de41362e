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


def test_the_in_place_cache_hands_attention_what_dynamic_cache_does(engine):
    """new_cache appends in place instead of copying the cache every step; each layer must still return exactly
    what transformers' DynamicCache returns: past the 512-token sliding window, when the buffer fills up, and after
    rows are dropped (finished answers) or repeated (a shared prefix)."""
    import torch
    from transformers import DynamicCache

    from course_lib.local import CACHE_SPARE, new_cache

    net = engine._model(MODEL)
    ours, theirs = new_cache(net), DynamicCache(config=net.config)
    assert [type(a).__mro__[1] for a in ours.layers] == [type(b) for b in theirs.layers]
    generator = torch.Generator().manual_seed(0)

    def step(tokens, rows):
        for i, (a, b) in enumerate(zip(ours.layers, theirs.layers, strict=True)):
            k, v = (torch.randn(rows, 1, tokens, 8, generator=generator) for _ in range(2))
            got, want = a.update(k, v), b.update(k, v)
            assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1]), f"layer {i}"
            assert a.get_seq_length() == b.get_seq_length()

    step(40, 1)  # a prefix, then repeated for a batch of three
    ours.batch_repeat_interleave(3)
    theirs.batch_repeat_interleave(3)
    step(600, 3)  # a prompt longer than the sliding window
    for n in range(CACHE_SPARE + 20):  # decoding past the buffer's spare room
        step(1, 3 if n < 50 else 2)
        if n == 49:  # one answer has finished
            ours.batch_select_indices(torch.tensor([0, 2]))
            theirs.batch_select_indices(torch.tensor([0, 2]))


def test_long_prompts_give_the_same_answers_with_either_cache(engine, monkeypatch):
    from transformers import DynamicCache

    import course_lib.local as local

    story = " ".join(f"On day {d} the shop sold {d * 3} bars of soap and {d + 4} refill pouches." for d in range(40))
    prompts = [f"{story}\nQuestion: how many bars of soap were sold on day {d}?\nAnswer:" for d in (5, 17, 33)]
    assert engine.count_tokens(prompts[0]) > 600  # past the sliding window
    net = engine._model(MODEL)
    net.__dict__.pop("_course_prefix_store", None)
    ours = engine.generate(prompts, max_tokens=12)
    monkeypatch.setattr(local, "new_cache", lambda net: DynamicCache(config=net.config))
    net.__dict__.pop("_course_prefix_store", None)
    theirs = engine.generate(prompts, max_tokens=12)
    net.__dict__.pop("_course_prefix_store", None)
    assert [g[0].text for g in ours] == [g[0].text for g in theirs]


def test_continuous_batching_answers_as_one_prompt_at_a_time(engine, monkeypatch):
    """Greedy decoding refills the batch as answers finish: waiting prompts are prefilled and join the running rows,
    the shorter side left-padded. Short prompts join longer running ones and a 600-token prompt (past the sliding
    window) joins short ones; every answer must equal the prompt's answer on its own."""
    import course_lib.local as local

    story = " ".join(f"On day {d} the shop sold {d * 3} bars of soap and {d + 4} refill pouches." for d in range(40))
    prompts = ["Monday, Tuesday,", "The capital of Japan is", "1, 2, 3,",  # 12 tokens, 2 tokens, 12 tokens
               f"{story}\nQuestion: how many bars of soap were sold on day 5?\nAnswer:",
               f"{story}\nQuestion: how many refill pouches were sold on day 30?\nAnswer:"]
    joins = []
    real_join = local._join_batches

    def spy(running, joining):
        joins.append((running[1].shape[1], joining[1].shape[1]))  # attention-mask widths: running, joining
        return real_join(running, joining)

    monkeypatch.setattr(local, "_join_batches", spy)
    together = engine.generate(prompts, max_tokens=12, stop=[".", "\n"], batch_size=2)
    assert any(run > new for run, new in joins) and any(new > 600 > run for run, new in joins), joins
    for prompt, answer in zip(prompts, together, strict=True):
        alone = engine.generate([prompt], max_tokens=12, stop=[".", "\n"])[0][0]
        assert (answer[0].text, answer[0].completion_tokens) == (alone.text, alone.completion_tokens), prompt
