"""Lesson 04's assistant: route each request to the technique that suits it, answer it, and score the answer.

Fernleaf Home's staff ask one assistant three kinds of thing:

- **policy** questions about HR benefits, answered closed-book (prompt engineering only) or with the RAG pipeline
  of lesson 02;
- **data** questions about the IT database, answered with few-shot SQL from the base model or with the LoRA
  adapter of lesson 03;
- **writing** requests for product copy, answered with the one-shot brand prompt of lesson 01 or with a LoRA
  adapter trained on descriptions in the brand's voice (lesson 04).

A data question can also get two techniques at once: the training pairs most like it, retrieved by embedding
(`sql.SimilarExamples`), shown as worked examples to the fine-tuned model.

A router, itself an engineered few-shot prompt, picks the route. Every answer is scored with the metric of its
lesson: key facts against the reference (policy), execution accuracy (data), the brand rubric (writing).
"""

from __future__ import annotations

import re
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from .datasets import (
    REQUESTS,
    ROUTES,
    DataError,
    few_shot_examples,
    load_brand_guide,
    load_products,
    load_questions,
    load_requests,
    load_sql_pairs,
)
from .llm import chat_many
from .prompting import rubric_check
from .rag import EXAMPLES, RagAnswerer, clean_answer, closed_book_prompt, score_answer
from .sql import ANSWER_MAX_TOKENS, SQLError, execution_match, extract_sql, prompt_messages, run_query

ROUTER_INSTRUCTION = ("Route each request from a Fernleaf Home employee: policy (HR benefits and company rules), "
                      "data (counts, lists and figures from the IT database), or writing (product copy).")
FT_SQL_MODEL = "ft:gemma-3-270m:sql"  # the name lesson 03 serves its adapter under
FT_COPY_MODEL = "ft:gemma-3-270m:brand-voice"  # the name lesson 04 serves its brand-voice adapter under
FT_RAG_MODEL = "ft:gemma-3-270m:grounded"  # the name lesson 04 serves its grounded-answer adapter under
COPY_INSTRUCTION = "Write a warm, plain product description in the Fernleaf Home brand voice."
COPY_MAX_TOKENS = 120  # the longest description the guide allows (90 words) is about 120 tokens


# --------------------------------------------------------------------------------------------------------------
# Routing
# --------------------------------------------------------------------------------------------------------------

def router_examples(per_route: int = 2) -> list[dict]:
    """`per_route` worked examples of each route from the `examples` split, interleaved (policy, data, writing,
    policy, ...) so that no route is always last."""
    pool = load_requests("examples")
    by_route = {r: [x for x in pool if x["route"] == r][:per_route] for r in ROUTES}
    return [by_route[r][i] for i in range(per_route) for r in ROUTES if i < len(by_route[r])]


def route_prompt(request: str, examples: list[dict] = (), instruction: str = ROUTER_INSTRUCTION) -> list[dict]:
    """Chat messages for few-shot routing: the instruction (system), each worked example as a user turn answered
    with its route name, then the request as the last user turn."""
    messages = [{"role": "system", "content": instruction}] if instruction else []
    for e in examples:
        messages += [{"role": "user", "content": e["request"]}, {"role": "assistant", "content": e["route"]}]
    return messages + [{"role": "user", "content": request}]


def parse_route(text: str) -> str | None:
    """The first route name in the model's answer, or None."""
    found = re.search(r"\b(" + "|".join(ROUTES) + r")\b", text.lower())
    return found.group(1) if found else None


@dataclass
class Routing:
    """A router's decisions on a list of requests, with what it cost."""

    routes: list[str | None]
    prompt_tokens: list[int]
    seconds: list[float]

    def accuracy(self, items: list[dict]) -> float:
        return sum(r == i["route"] for r, i in zip(self.routes, items, strict=True)) / max(1, len(items))

    def confusion(self, items: list[dict]) -> dict[str, dict[str, int]]:
        """counts[true route][chosen route] (None when the answer named no route)."""
        counts = {r: {c: 0 for c in (*ROUTES, None)} for r in ROUTES}
        for chosen, item in zip(self.routes, items, strict=True):
            counts[item["route"]][chosen] += 1
        return counts


def route_requests(client, model: str, requests: list[str], build=None, progress: bool = True) -> Routing:
    """Route every request with the few-shot messages `build(request)` (default: `route_prompt` with two examples
    per route); a string from `build` is sent as one user message. A route name is one line of at most three
    tokens, so the answer stops at the end of its line."""

    if build is None:
        shots = router_examples()
        build = lambda request: route_prompt(request, shots)  # noqa: E731
    conversations = [_as_messages(build(r)) for r in requests]
    answers = chat_many(client, model, conversations, max_tokens=3, stop=["\n"], progress=progress, desc="routing")
    return Routing([parse_route(a.text) for a in answers], [a.prompt_tokens for a in answers],
                   [a.latency_s for a in answers])


def _as_messages(prompt) -> list[dict]:
    return [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)


# --------------------------------------------------------------------------------------------------------------
# Answering: one handler per route
# --------------------------------------------------------------------------------------------------------------

def find_product(request: str, products: list[dict]) -> dict:
    """The product a writing request is about: the one whose name, category and scent share most words with it."""
    words = set(re.findall(r"[a-z]+", request.lower())) - {"fernleaf", "the", "for", "our", "a", "of"}

    def overlap(product: dict) -> int:
        text = " ".join([product["name"], product["category"], product.get("scent", "")]).lower()
        return len(words & set(re.findall(r"[a-z]+", text)))

    return max(products, key=overlap)


def product_turn(product: dict) -> dict:
    """The user turn that asks for one product's copy: its name and facts (lesson 01's format)."""
    return {"role": "user", "content": f"Product: {product['name']}\nFacts: {'; '.join(product['facts'])}"}


def copy_prompt(product: dict, example_product: dict, guide: dict) -> list[dict]:
    """Lesson 01's one-shot brand prompt as chat messages: the example product's facts (user) answered with the
    guide's example description (assistant), then the product to describe (user)."""
    return [product_turn(example_product), {"role": "assistant", "content": guide["example_description"]},
            product_turn(product)]


def instructed_copy_prompt(product: dict) -> list[dict]:
    """The bare instruction and the product: lesson 01's zero-shot copy prompt, and what the brand-voice adapter
    is trained on and asked with."""
    return [{"role": "system", "content": COPY_INSTRUCTION}, product_turn(product)]


def brand_copy_examples(products: list[dict]) -> list[dict]:
    """Chat fine-tuning examples from products with descriptions (`datasets.load_brand_copy("train")`)."""
    return [{"messages": [*instructed_copy_prompt(p), {"role": "assistant", "content": p["description"]}]}
            for p in products]


@dataclass
class Reply:
    """One answered request: the route taken, the answer and its cost."""

    request: str
    route: str | None
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)  # e.g. the SQL's rows, the retrieved passages, the product


class Handler(ABC):
    """Answers the requests of one route with one technique. Answers are remembered per request, so configurations
    that share a handler ask once and are compared on the very same answers."""

    route = ""
    name = ""

    def __init__(self):
        self._memo: dict[str, Reply] = {}

    def answer_many(self, requests: list[str]) -> list[Reply]:
        missing = list(dict.fromkeys(r for r in requests if r not in self._memo))
        if missing:
            for request, reply in zip(missing, self._answer(missing), strict=True):
                self._memo[request] = reply
        return [self._memo[r] for r in requests]

    @abstractmethod
    def _answer(self, requests: list[str]) -> list[Reply]:
        """Answer requests that are not remembered yet, one Reply per request, in order."""


class ClosedBookPolicy(Handler):
    """Policy questions answered from the model's own knowledge: lesson 02's closed-book few-shot prompt."""

    route, name = "policy", "closed book"

    def __init__(self, client, model: str):
        super().__init__()
        self.client, self.model = client, model

    def _answer(self, requests):

        answers = chat_many(self.client, self.model, [closed_book_prompt(q) for q in requests], max_tokens=48,
                            stop=["\n"], desc="closed-book answers")
        return [Reply(q, "policy", clean_answer(a.text), a.prompt_tokens, a.completion_tokens, a.latency_s)
                for q, a in zip(requests, answers, strict=True)]


class RagPolicy(Handler):
    """Policy questions answered from retrieved passages: lesson 02's RAG pipeline."""

    route, name = "policy", "RAG"

    def __init__(self, client, model: str, retriever, k: int = 3, where=None, examples=None):
        super().__init__()

        examples = EXAMPLES if examples is None else examples  # () for a model fine-tuned on the grounded task
        self.answerer = RagAnswerer(client, model, retriever, k=k, where=where, examples=examples)

    def _answer(self, requests):
        answers = self.answerer.answer_many(requests)
        return [Reply(q, "policy", a.text, a.prompt_tokens, a.completion_tokens, a.seconds,
                      {"passages": [h.chunk.text for h in a.hits]}) for q, a in zip(requests, answers, strict=True)]


class FineTunedRag(RagPolicy):
    """Policy questions answered from retrieved passages by lesson 04's grounded-answer adapter: lesson 02's
    pipeline, without the worked examples the base model needs (fine-tuning and RAG on one request)."""

    name = "fine-tuned RAG"

    def __init__(self, client, model: str, retriever, k: int = 3, where=None):
        super().__init__(client, model, retriever, k=k, where=where, examples=())


class _SQLHandler(Handler):
    route = "data"

    def __init__(self, client, model: str):
        super().__init__()
        self.client, self.model = client, model

    @abstractmethod
    def messages(self, request: str) -> list[dict]:
        """The chat messages that ask the SQL model for one query."""

    def _answer(self, requests):

        # Every gold query is one line, and a base model keeps writing after it: stop at the end of the line.
        answers = chat_many(self.client, self.model, [self.messages(q) for q in requests],
                            max_tokens=ANSWER_MAX_TOKENS, stop=["\n"], desc=self.name)
        replies = []
        for q, a in zip(requests, answers, strict=True):
            sql = extract_sql(a.text)
            try:
                rows, error = run_query(sql).rows, None
            except SQLError as problem:
                rows, error = None, str(problem)
            replies.append(Reply(q, "data", sql, a.prompt_tokens, a.completion_tokens, a.latency_s,
                                 {"rows": rows, "error": error}))
        return replies


class FewShotSQL(_SQLHandler):
    """Data questions turned into SQL by the base model with the schema and worked examples in the prompt:
    lesson 03's fixed few-shot examples, or with `similar` the training pairs most like each question
    (retrieval and prompt engineering on one request)."""

    def __init__(self, client, model: str, shots: int = 4, similar=None):
        super().__init__(client, model)

        self.similar = similar  # a sql.SimilarExamples, or None for the fixed examples
        self.shots = [] if similar else few_shot_examples(load_sql_pairs("train"), shots)
        self.name = "retrieved-examples SQL" if similar else "few-shot SQL"

    def messages(self, request):

        return prompt_messages(request, self.similar(request) if self.similar else self.shots)


class FineTunedSQL(_SQLHandler):
    """Data questions turned into SQL by lesson 03's fine-tuned model, with the short prompt it was trained on;
    with `similar`, the training pairs most like each question come first as worked examples (fine-tuning and
    retrieval on one request)."""

    def __init__(self, client, model: str, similar=None):
        super().__init__(client, model)
        self.similar = similar  # a sql.SimilarExamples, or None
        self.name = "fine-tuned SQL + retrieved examples" if similar else "fine-tuned SQL"

    def messages(self, request):

        return prompt_messages(request, self.similar(request) if self.similar else (), schema=False)


class BrandCopy(Handler):
    """Writing requests answered with lesson 01's one-shot brand prompt, for the product the request names."""

    route, name = "writing", "brand prompt"

    def __init__(self, client, model: str):
        super().__init__()
        self.client, self.model = client, model
        self.products, self.guide = load_products(), load_brand_guide()

    def _answer(self, requests):

        products = [find_product(r, self.products) for r in requests]
        answers = chat_many(self.client, self.model, [self.messages(p) for p in products],
                            max_tokens=COPY_MAX_TOKENS, stop=["\n"], desc=self.name)
        return [Reply(r, "writing", a.text.strip(), a.prompt_tokens, a.completion_tokens, a.latency_s,
                      {"product": p["id"]}) for r, a, p in zip(requests, answers, products, strict=True)]

    def messages(self, product: dict) -> list[dict]:
        return copy_prompt(product, self.products[0], self.guide)


class FineTunedCopy(BrandCopy):
    """Writing requests answered by the brand-voice adapter (lesson 04) with the bare instruction it was trained
    on: no example description in the prompt."""

    route, name = "writing", "fine-tuned copy"

    def messages(self, product: dict) -> list[dict]:
        return instructed_copy_prompt(product)


class Assistant:
    """One assistant: a handler per route. Requests with no route get a fixed "please rephrase" reply."""

    def __init__(self, policy: Handler, data: Handler, writing: Handler, name: str | None = None):
        self.handlers = {"policy": policy, "data": data, "writing": writing}
        self.name = name or " + ".join(h.name for h in self.handlers.values())

    def answer_many(self, requests: list[str], routes: list[str | None]) -> list[Reply]:
        """Answer each request along its route; each route's requests go to the model as one list (`chat_many`)."""
        replies: list[Reply | None] = [None] * len(requests)
        for route, handler in self.handlers.items():
            chosen = [i for i, r in enumerate(routes) if r == route]
            if chosen:
                for i, reply in zip(chosen, handler.answer_many([requests[i] for i in chosen]), strict=True):
                    replies[i] = reply
        for i, reply in enumerate(replies):
            if reply is None:
                replies[i] = Reply(requests[i], None, "Sorry, I could not tell what you need; please rephrase.")
        return replies


# --------------------------------------------------------------------------------------------------------------
# Scoring: each request by the metric of its own lesson
# --------------------------------------------------------------------------------------------------------------

def _reference(item: dict) -> str:

    wanted = item["source"].split(":", 1)[1]
    for q in load_questions():
        if q["id"] == wanted:
            return q["answer"]
    raise DataError(f"{REQUESTS}: {item['id']} points to {item['source']}, which is not in the benefits questions.")


def score_reply(item: dict, reply: Reply) -> float:
    """0..1 by the request's true route: policy by key facts of the reference answer (lesson 02), data by execution
    accuracy (lesson 03), writing by the brand rubric (lesson 01). A request sent down the wrong route, or down
    none, scores 0: the rubric alone would give any text without banned words 0.4, a SQL query included."""

    if reply.route != item["route"]:
        return 0.0
    if item["route"] == "policy":
        return score_answer(reply.text, _reference(item))
    if item["route"] == "data":
        return float(execution_match(reply.text, item["sql"])) if reply.text else 0.0
    product_id = item["source"].split(":", 1)[1]
    product = next(p for p in load_products() if p["id"] == product_id)
    return rubric_check(reply.text, product, load_brand_guide())["score"]


@dataclass
class RunReport:
    """One configuration on the mixed set: per-request scores and costs."""

    name: str
    items: list[dict]
    replies: list[Reply]
    scores: list[float]
    router_tokens: list[int]
    router_seconds: list[float]
    wall_seconds: float

    def summary(self) -> dict:
        n = max(1, len(self.items))
        row = {"quality": sum(self.scores) / n}
        for route in ROUTES:
            picked = [s for s, i in zip(self.scores, self.items, strict=True) if i["route"] == route]
            row[f"quality, {route}"] = sum(picked) / max(1, len(picked))
        row["tokens per request"] = sum(r.prompt_tokens + r.completion_tokens for r in self.replies) / n + \
            sum(self.router_tokens) / n
        row["seconds per request"] = sum(r.seconds for r in self.replies) / n + sum(self.router_seconds) / n
        return row


def run_configuration(assistant: Assistant, items: list[dict], routing: Routing | None = None,
                      name: str | None = None) -> RunReport:
    """Answer and score every item. With `routing`, requests follow the router's choices (and pay for the
    router's tokens); without, each follows its true route (a perfect router, for comparison)."""
    started = time.perf_counter()
    routes = routing.routes if routing is not None else [i["route"] for i in items]
    replies = assistant.answer_many([i["request"] for i in items], routes)
    scores = [score_reply(i, r) for i, r in zip(items, replies, strict=True)]
    return RunReport(name or assistant.name, items, replies, scores,
                     routing.prompt_tokens if routing else [0] * len(items),
                     routing.seconds if routing else [0.0] * len(items), time.perf_counter() - started)
