"""What tokens cost on a hosted model, from the course's dated price table. Taught in 01 and 03.

The table (`data/prompting/model_prices.json`) lists USD per 1M tokens with the date and page it was read from;
every cost the course prints is computed here, so a price is changed in one place.
"""

from __future__ import annotations

from .datasets import load_prices

PER = 1_000_000  # prices are per 1M tokens


def request_cost(model: str, prompt_tokens: int, completion_tokens: int, prices: dict | None = None) -> float:
    """USD for these tokens on `model` (KeyError naming the known models if the table has no price for it)."""
    table = (prices or load_prices())["models"]
    if model not in table:
        raise KeyError(f"No price for {model!r} in model_prices.json; known: {', '.join(table)}.")
    rate = table[model]
    return (prompt_tokens * rate["input"] + completion_tokens * rate["output"]) / PER


def training_cost(model: str, trained_tokens: int, prices: dict | None = None) -> float:
    """USD a hosted fine-tuning job bills for `trained_tokens` (tokens in the file × epochs) on `model`."""
    table = (prices or load_prices()).get("fine_tuning", {})
    if model not in table:
        raise KeyError(f"No fine-tuning price for {model!r}; the table has {', '.join(table)}.")
    return trained_tokens * table[model]["training_per_1m_tokens"] / PER
