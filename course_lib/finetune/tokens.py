"""Tokens of a training set, as the model reads them, and what a hosted job would bill for them. Taught in 03.

An example is rendered exactly as the local engine renders a chat request (`runtime.chat_format.render_chat`), so
the adapter is trained on the text it will be served with.
"""

from __future__ import annotations

import functools

from ..config import load_settings
from ..datasets import answer_of, load_prices
from ..pricing import training_cost
from ..runtime.chat_format import render_chat
from ..runtime.weights import ensure_converted_weights
from ..runtime.weights import load_tokenizer as load_converted_tokenizer


@functools.cache
def load_tokenizer():
    """The local model's tokenizer alone (no weights loaded), for counting tokens."""
    return load_converted_tokenizer(ensure_converted_weights(load_settings().cache_dir))


def default_token_counter():
    """count_tokens(text) with the local model's tokenizer."""
    tokenizer = load_tokenizer()
    return lambda text: len(tokenizer(text, add_special_tokens=True).input_ids)


def split_example(example: dict) -> tuple[str, str]:
    """(prompt, answer) as the model reads them: the chat rendered as the local engine renders a request, and the
    final assistant message after a space. Taught in 03_fine_tuning."""
    prompt, _ = render_chat(example["messages"][:-1])
    return prompt, " " + answer_of(example)


def training_text(example: dict) -> str:
    """The whole text of one example as the model is trained on it."""
    prompt, answer = split_example(example)
    return prompt + answer


def token_stats(examples: list[dict], tokenizer=None) -> dict:
    """Token counts of a training set: examples, total, per example, and the answer tokens the loss is on."""
    tokenizer = tokenizer or load_tokenizer()
    totals, answers = [], []
    for e in examples:
        prompt, answer = split_example(e)
        p = len(tokenizer(prompt, add_special_tokens=True).input_ids)
        a = len(tokenizer(answer, add_special_tokens=False).input_ids) + 1  # + the end-of-text token
        totals.append(p + a)
        answers.append(a)
    return {"examples": len(examples), "tokens": sum(totals), "answer_tokens": sum(answers),
            "mean_tokens": round(sum(totals) / max(1, len(totals)), 1), "max_tokens": max(totals, default=0)}


def estimate_training_cost(tokens_per_epoch: int, epochs: int = 3, model: str = "gpt-4o-mini",
                           prices: dict | None = None) -> dict:
    """What a hosted fine-tuning job would cost: billed tokens = tokens in the file × epochs, at the dated price
    per 1M training tokens in the course's price table. Taught in 03_fine_tuning."""
    prices = prices or load_prices()
    trained = tokens_per_epoch * epochs
    return {"model": model, "epochs": epochs, "trained_tokens": trained,
            "usd_per_1m": prices["fine_tuning"].get(model, {}).get("training_per_1m_tokens"),
            "usd": training_cost(model, trained, prices), "as_of": prices.get("as_of", "?")}
