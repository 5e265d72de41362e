"""Loaders for the data the course ships in course_lib/data/ (each folder has a README saying how it was made)."""

from __future__ import annotations

import json
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"  # course_lib/data


class DataError(ValueError):
    """A shipped or learner-supplied data file is malformed; the message names the file and line."""


def read_jsonl(path: str | Path) -> list[dict]:
    """Read a JSON Lines file; a bad line raises DataError naming the file and the line number."""
    path = Path(path)
    rows = []
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except ValueError as exc:
                raise DataError(f"{path}, line {number}: not valid JSON ({exc.msg}); fix or delete that line.") \
                    from None
    return rows


def _check_split(split: str | None, allowed: tuple[str, ...], name: str) -> None:
    if split is not None and split not in allowed:
        raise DataError(f"{name} has no split {split!r}; choose one of {', '.join(allowed)}.")


def load_reviews(split: str | None = None) -> list[dict]:
    """Fernleaf Home customer reviews labelled positive/negative; split is fewshot, dev or test. Taught in 01."""
    _check_split(split, ("fewshot", "dev", "test"), "reviews.jsonl")
    rows = read_jsonl(DATA / "prompting" / "reviews.jsonl")
    return [r for r in rows if split is None or r["split"] == split]


def load_products() -> list[dict]:
    """The eight products of Fernleaf Home's green line, with the facts a description must mention. Taught in 01."""
    return json.loads((DATA / "prompting" / "products.json").read_text(encoding="utf-8"))


def load_brand_guide() -> dict:
    """Fernleaf Home's tone rules, banned phrases and length limits for product copy. Taught in 01."""
    return json.loads((DATA / "prompting" / "brand_guide.json").read_text(encoding="utf-8"))


def load_brand_copy(split: str) -> list[dict]:
    """Made-up Fernleaf products for teaching the brand voice: 'train' (90, each with a description in the voice)
    or 'eval' (30 others, facts only, some of kinds the training set never shows). Taught in 04."""
    _check_split(split, ("train", "eval"), "brand_copy")
    return json.loads((DATA / "brand_copy" / f"products_{split}.json").read_text(encoding="utf-8"))


def load_support_messages(split: str | None = None) -> list[dict]:
    """Support messages with the fields a model should extract from each; split is dev or test. Taught in 01."""
    _check_split(split, ("dev", "test"), "extraction.jsonl")
    rows = read_jsonl(DATA / "prompting" / "extraction.jsonl")
    return [r for r in rows if split is None or r["split"] == split]


def load_prices() -> dict:
    """Dated hosted-model prices (USD per 1M tokens) with their source. Taught in 01 and 03."""
    return json.loads((DATA / "prompting" / "model_prices.json").read_text(encoding="utf-8"))
