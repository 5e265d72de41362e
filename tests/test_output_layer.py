"""The local engine's speed-ups change nothing: the greedy shortlist picks the full output layer's tokens, and the
quickly loaded tokenizer gives AutoTokenizer's tokens."""

import torch

PROMPTS = [
    "Write a short product description for a plant-based kitchen cleaner:",
    "Q: Which table holds the laptops?\nA:",
    "Review: The refill arrived late and the cap leaked.\nSentiment:",
    "The three primary colours are",
    "def add(a, b):\n",
    "株式会社の本社は",
]


def test_greedy_shortlist_matches_the_full_output_layer(engine):
    net = engine._model("")
    layer = net.output_layer
    assert layer.ready.wait(60), "the int8 copy of the output layer was never packed"
    assert layer._packed is not None, "fbgemm int8 packing failed on this machine"
    fast = engine.generate(PROMPTS, max_tokens=40)
    packed, layer._packed = layer._packed, None  # the full 262k-row layer, argmax over every logit
    try:
        full = engine.generate(PROMPTS, max_tokens=40)
    finally:
        layer._packed = packed
    assert [g[0].text for g in fast] == [g[0].text for g in full]
    assert sum(g[0].completion_tokens for g in fast) >= 100  # enough decoding steps to mean something


def test_greedy_shortlist_on_random_hidden_states_finds_the_true_argmax(engine):
    layer = engine._model("").output_layer
    assert layer.ready.wait(60)
    hidden = torch.randn(64, layer.weight.shape[1], generator=torch.Generator().manual_seed(0)) * 3
    with torch.inference_mode():
        assert torch.equal(layer.greedy(hidden), layer.logits(hidden).argmax(dim=-1))


def test_fast_tokenizer_load_gives_the_same_tokens_as_autotokenizer(engine):
    from transformers import AutoTokenizer

    ours, reference = engine.tokenizer, AutoTokenizer.from_pretrained(engine.weights_dir)
    texts = [*PROMPTS, "  two  spaces\n\n\ttab", "<start_of_turn>user\nhi<end_of_turn>", "émoji 🙂", ""]
    for text in texts:
        assert ours(text).input_ids == reference(text).input_ids, text
        assert ours.decode(ours(text).input_ids, skip_special_tokens=True) == \
            reference.decode(reference(text).input_ids, skip_special_tokens=True)
    for name in ("bos_token_id", "eos_token_id", "pad_token_id", "unk_token_id"):
        assert getattr(ours, name) == getattr(reference, name), name
