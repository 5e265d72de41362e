"""Builds requests.jsonl: the mixed requests of lesson 04 (policy, data and writing), each with its route.

    python course_lib/data/assistant/make_requests.py

Deterministic (seeded). Policy requests are questions from ../benefits/questions.jsonl (the RAG lesson's HR
benefits documents); data requests are questions from ../itdb (the fine-tuning lesson's IT database); writing
requests come from writing_requests.json. Splits:

- `eval`: the mixed evaluation set the lesson scores every configuration on (12 policy, 12 data, 7 writing).
  Policy: direct questions (the `single` and `year` types: one fact, or one plan year). Data: test-split
  questions asked in new words (one per query template). Writing: every product but the brand guide's example
  product, whose description the one-shot prompt shows (lesson 01 scores the same products).
- `dev`: requests for measuring a router (15 policy, 15 data, 17 writing). Data items come from the validation
  split, so no fine-tuning test question is used to tune a router.
- `examples`: requests a router prompt may use as worked examples (8 policy, 8 data, 8 writing).

No request text appears in two splits.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

HERE = Path(__file__).parent
DATA = HERE.parent


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def build() -> list[dict]:
    rng = random.Random(4)
    benefits = read_jsonl(DATA / "benefits" / "questions.jsonl")
    answerable = [q for q in benefits if q["type"] != "unanswerable"]
    rng.shuffle(answerable)
    direct = [q for q in answerable if q["type"] in ("single", "year")]
    policy_eval = direct[:12]
    rest = [q for q in answerable if q not in policy_eval]
    policy_dev, policy_examples = rest[:15], rest[15:23]

    test = read_jsonl(DATA / "itdb" / "test.jsonl")
    new_wording: dict[str, dict] = {}
    for item in test:
        if item["part"] == "new_wording":
            new_wording.setdefault(item["template"], item)
    data_eval = rng.sample(sorted(new_wording.values(), key=lambda i: i["template"]), 12)
    validation = read_jsonl(DATA / "itdb" / "validation.jsonl")
    picked = rng.sample(validation, 23)
    data_dev, data_examples = picked[:15], picked[15:]

    writing = {k: v for k, v in json.loads((HERE / "writing_requests.json").read_text(encoding="utf-8")).items()
               if not k.startswith("_")}
    rows = []
    for q, split in [(q, "eval") for q in policy_eval] + [(q, "dev") for q in policy_dev] + \
            [(q, "examples") for q in policy_examples]:
        rows.append({"request": q["question"], "route": "policy", "split": split, "source": f"benefits:{q['id']}"})
    for item, split in [(i, "eval") for i in data_eval] + [(i, "dev") for i in data_dev] + \
            [(i, "examples") for i in data_examples]:
        part = "test" if split == "eval" else "validation"
        rows.append({"request": item["messages"][1]["content"], "route": "data", "split": split,
                     "source": f"itdb:{part}", "sql": item["messages"][2]["content"]})
    example_product = json.loads((DATA / "prompting" / "products.json").read_text(encoding="utf-8"))[0]["id"]
    for product, phrasings in sorted(writing.items()):
        splits = ("dev" if product == example_product else "eval", "dev", "dev", "examples")
        for phrasing, split in zip(phrasings, splits, strict=True):
            rows.append({"request": phrasing, "route": "writing", "split": split, "source": f"products:{product}"})
    texts = [r["request"] for r in rows]
    assert len(set(texts)) == len(texts), "a request appears twice"
    rng.shuffle(rows)
    for n, row in enumerate(rows, start=1):
        row["id"] = f"a{n:03d}"
    return rows


if __name__ == "__main__":
    rows = build()
    out = HERE / "requests.jsonl"
    out.write_text("".join(json.dumps({"id": r.pop("id"), **r}) + "\n" for r in rows), encoding="utf-8")
    print(f"wrote {len(rows)} requests to {out}")
