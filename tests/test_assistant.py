"""Lesson 04's assistant: the request data, routing prompts and parsing, handlers, scoring."""

import json
import subprocess
import sys
from types import SimpleNamespace

import pytest

from course_lib.assistant import (
    ROUTER_INSTRUCTION,
    Assistant,
    BrandCopy,
    ClosedBookPolicy,
    FewShotSQL,
    FineTunedSQL,
    Handler,
    Reply,
    Routing,
    copy_prompt,
    find_product,
    parse_route,
    route_prompt,
    route_requests,
    router_examples,
    run_configuration,
    score_reply,
)
from course_lib.datasets import REQUESTS, ROUTES, DataError, load_brand_guide, load_products, load_requests
from course_lib.sql import run_query


def test_the_request_file_is_what_its_generator_writes(tmp_path):
    before = REQUESTS.read_bytes()
    subprocess.run([sys.executable, str(REQUESTS.parent / "make_requests.py")], check=True, capture_output=True)
    assert REQUESTS.read_bytes() == before, "requests.jsonl differs from make_requests.py's output"


def test_splits_are_balanced_and_share_no_request():
    splits = {s: load_requests(s) for s in ("eval", "dev", "examples")}
    texts = [r["request"] for rows in splits.values() for r in rows]
    assert len(texts) == len(set(texts))
    for rows in splits.values():
        assert {r["route"] for r in rows} == set(ROUTES)
    assert len(splits["eval"]) == 31 and len(splits["dev"]) == 47


def test_every_data_request_has_a_gold_query_that_runs_and_every_source_exists():
    from course_lib.datasets import load_questions

    benefit_ids = {q["id"] for q in load_questions()}
    product_ids = {p["id"] for p in load_products()}
    for item in load_requests():
        kind, ref = item["source"].split(":", 1)
        if item["route"] == "data":
            run_query(item["sql"])
        elif item["route"] == "policy":
            assert kind == "benefits" and ref in benefit_ids
        else:
            assert kind == "products" and ref in product_ids


def test_a_bad_request_file_names_the_line(tmp_path):
    bad = tmp_path / "requests.jsonl"
    bad.write_text('{"request": "hi", "route": "policy", "split": "dev"}\n{"request": "x", "route": "chat"}\n')
    with pytest.raises(DataError, match=r"requests.jsonl:2"):
        load_requests(path=bad)
    with pytest.raises(DataError, match="Unknown split"):
        load_requests("train")


def test_route_prompt_is_few_shot_chat_and_parse_route_reads_the_answer():
    shots = router_examples(per_route=2)
    assert [s["route"] for s in shots] == list(ROUTES) * 2
    messages = route_prompt("Write copy for the dish soap.", shots)
    assert messages[0] == {"role": "system", "content": ROUTER_INSTRUCTION}
    assert messages[-1] == {"role": "user", "content": "Write copy for the dish soap."}
    turns = messages[1:-1]
    assert [m["role"] for m in turns] == ["user", "assistant"] * 6
    assert [m["content"] for m in turns[1::2]] == [s["route"] for s in shots]  # the answer is the route's name
    assert [m["content"] for m in turns[::2]] == [s["request"] for s in shots]
    assert route_prompt("Hi", shots, instruction="")[0]["role"] == "user"
    assert parse_route(" data") == "data"
    assert parse_route(" Writing (product copy)") == "writing"
    assert parse_route(" unsure") is None


def test_copy_prompt_is_a_one_shot_chat_with_the_guides_example():
    products, guide = load_products(), load_brand_guide()
    messages = copy_prompt(products[3], products[0], guide)
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert messages[1]["content"] == guide["example_description"]
    assert products[0]["name"] in messages[0]["content"] and products[0]["facts"][0] in messages[0]["content"]
    assert products[3]["name"] in messages[2]["content"] and products[3]["facts"][-1] in messages[2]["content"]


class FakeChat:
    """A stand-in client: records every chat request and answers with `reply(messages, model)`."""

    def __init__(self, reply):
        self.requests, self.reply = [], reply
        self.chat = SimpleNamespace(completions=SimpleNamespace(create=self.create))

    def create(self, **request):
        self.requests.append(request)
        text = self.reply(request["messages"], request["model"])
        return SimpleNamespace(choices=[SimpleNamespace(message=SimpleNamespace(content=text), finish_reason="stop")],
                               usage=SimpleNamespace(prompt_tokens=10, completion_tokens=2))


def test_every_model_call_is_a_chat_request():
    dev = load_requests("dev")[:6]
    client = FakeChat(lambda messages, model: " data\n")
    routing = route_requests(client, "m", [d["request"] for d in dev], progress=False)
    assert routing.routes == ["data"] * 6 and routing.prompt_tokens == [10] * 6
    assert all(r["max_tokens"] == 3 and r["stop"] == ["\n"] and r["messages"][-1]["role"] == "user"
               for r in client.requests)

    client = FakeChat(lambda messages, model: "Fifteen days.\nUser: and more")
    reply = ClosedBookPolicy(client, "m").answer_many(["How many vacation days?"])[0]
    assert reply.text == "Fifteen days." and client.requests[0]["stop"] == ["\n"]
    assert client.requests[0]["messages"][-1] == {"role": "user", "content": "How many vacation days?"}

    client = FakeChat(lambda messages, model: "Meet the Fernleaf Dish Soap.")
    reply = BrandCopy(client, "m").answer_many(["Draft copy for the dish soap."])[0]
    assert reply.text == "Meet the Fernleaf Dish Soap." and reply.extra["product"]
    assert [m["role"] for m in client.requests[0]["messages"]] == ["user", "assistant", "user"]


def test_sql_handlers_stop_at_the_end_of_the_line_on_every_provider():
    client = FakeChat(lambda messages, model: "SELECT COUNT(*) FROM employees")
    few_shot, tuned = FewShotSQL(client, "base"), FineTunedSQL(client, "ft:sql")
    for handler in (few_shot, tuned):
        reply = handler.answer_many(["How many employees are there?"])[0]
        assert reply.text == "SELECT COUNT(*) FROM employees" and reply.extra["rows"] and not reply.extra["error"]
    assert [r["stop"] for r in client.requests] == [["\n"], ["\n"]]
    few_shot_messages, tuned_messages = (r["messages"] for r in client.requests)
    assert len(few_shot_messages) > len(tuned_messages) == 2  # the fine-tuned model gets the short prompt
    assert [r["model"] for r in client.requests] == ["base", "ft:sql"]


def test_routing_accuracy_and_confusion():
    items = [{"route": "policy"}, {"route": "data"}, {"route": "data"}]
    routing = Routing(["policy", "policy", None], [10, 10, 10], [0.1, 0.1, 0.1])
    assert routing.accuracy(items) == pytest.approx(1 / 3)
    confusion = routing.confusion(items)
    assert confusion["data"]["policy"] == 1 and confusion["data"][None] == 1 and confusion["policy"]["policy"] == 1


def test_writing_requests_find_their_product():
    products = load_products()
    for item in load_requests():
        if item["route"] == "writing":
            assert find_product(item["request"], products)["id"] == item["source"].split(":", 1)[1], item


class Echo(Handler):
    """A handler that answers with the request itself and counts how often it was asked: shows the memo."""

    route, name = "policy", "echo"

    def __init__(self):
        super().__init__()
        self.asked = 0

    def _answer(self, requests):
        self.asked += len(requests)
        return [Reply(r, self.route, r, prompt_tokens=5, completion_tokens=1, seconds=0.5) for r in requests]


def test_handlers_answer_each_request_once_and_unrouted_requests_get_a_fixed_reply():
    echo = Echo()
    assistant = Assistant(echo, echo, echo, name="echo")
    replies = assistant.answer_many(["a", "b", "a", "c"], ["policy", "policy", "policy", None])
    assert [r.text for r in replies[:3]] == ["a", "b", "a"] and echo.asked == 2
    assert replies[3].route is None and "rephrase" in replies[3].text
    assistant.answer_many(["a", "b"], ["policy", "policy"])
    assert echo.asked == 2


def test_scores_follow_each_lessons_metric():
    items = load_requests("eval")
    data = next(i for i in items if i["route"] == "data")
    assert score_reply(data, Reply(data["request"], "data", data["sql"])) == 1.0
    assert score_reply(data, Reply(data["request"], "policy", "Six sessions a year.")) == 0.0
    policy = next(i for i in items if i["route"] == "policy")
    from course_lib.assistant import _reference

    assert score_reply(policy, Reply(policy["request"], "policy", _reference(policy))) >= 0.9
    assert score_reply(policy, Reply(policy["request"], "data", "SELECT COUNT(*) FROM tickets")) < 0.5
    writing = next(i for i in items if i["route"] == "writing")
    product = next(p for p in load_products() if p["id"] == writing["source"].split(":")[1])
    example = load_brand_guide()["example_description"] if product["id"] == "p01" else None
    good = example or (f"{product['name']}: " + ". ".join(product["facts"][:3]) + ". " + "Made with care. " * 6)
    assert score_reply(writing, Reply(writing["request"], "writing", good)) > \
        score_reply(writing, Reply(writing["request"], "writing", "Buy now!"))
    # Sent down another route (or none), a writing request scores 0: the rubric alone gives any text 0.4.
    assert score_reply(writing, Reply(writing["request"], "data", "SELECT name FROM devices")) == 0.0
    assert score_reply(writing, Reply(writing["request"], None, "Sorry, I could not tell what you need.")) == 0.0


def test_the_brand_prompts_example_product_is_not_evaluated():
    example_product = load_products()[0]["id"]  # its description is the one-shot prompt's example
    assert all(i["source"] != f"products:{example_product}" for i in load_requests("eval"))


def test_run_configuration_counts_router_tokens_and_scores_each_request():
    items = [i for i in load_requests("eval") if i["route"] == "policy"][:2]
    echo = Echo()
    routing = Routing(["policy", None], [100, 100], [1.0, 1.0])
    report = run_configuration(Assistant(echo, echo, echo), items, routing, name="echo")
    summary = report.summary()
    assert summary["tokens per request"] == pytest.approx((6 + 0) / 2 + 100)
    assert summary["seconds per request"] == pytest.approx(0.5 / 2 + 1.0)
    assert len(report.scores) == 2 and report.replies[1].route is None
    json.dumps(summary)  # plain numbers, ready for a table


def test_retrieved_examples_are_the_nearest_training_pairs_nearest_last(settings):
    from course_lib.datasets import load_sql_pairs, question_of
    from course_lib.embeddings import Embedder
    from course_lib.sql import SimilarExamples

    train = load_sql_pairs("train")
    similar = SimilarExamples(train[:200], Embedder(settings), k=3)
    for pair in train[:5]:
        found = similar(question_of(pair))
        assert len(found) == 3 and found[-1] is pair, "a training question finds itself, next to the question"
    unrelated = similar("What is the capital of France?")
    assert len(unrelated) == 3, "retrieval always returns k examples, near or not"


def test_handlers_with_retrieved_examples_put_them_before_the_question():
    from course_lib.assistant import FineTunedCopy, brand_copy_examples, instructed_copy_prompt
    from course_lib.datasets import load_brand_copy, load_sql_pairs

    pairs = load_sql_pairs("train")[:2]
    client = FakeChat(lambda messages, model: "SELECT COUNT(*) FROM devices")
    for handler in (FewShotSQL(client, "base", similar=lambda q: pairs),
                    FineTunedSQL(client, "ft:sql", similar=lambda q: pairs)):
        handler.answer_many(["How many devices?"])
    (base_request, tuned_request) = client.requests
    shown = [pairs[0]["messages"][1], pairs[0]["messages"][2], pairs[1]["messages"][1], pairs[1]["messages"][2]]
    assert base_request["messages"][1:] == [*shown, {"role": "user", "content": "How many devices?"}]
    assert tuned_request["messages"][1:] == base_request["messages"][1:]
    from course_lib.datasets import SQL_SYSTEM_PROMPT as SYSTEM_PROMPT
    from course_lib.datasets import schema_text

    assert base_request["messages"][0]["content"] == f"{SYSTEM_PROMPT}\n\n{schema_text()}"
    assert tuned_request["messages"][0]["content"] == SYSTEM_PROMPT, "the adapter gets no schema"

    client = FakeChat(lambda messages, model: "A calm spray for glass.")
    product = load_products()[2]
    reply = FineTunedCopy(client, "ft:copy").answer_many([f"Write copy for the {product['name']}."])[0]
    assert reply.extra["product"] == product["id"]
    assert client.requests[0]["messages"] == instructed_copy_prompt(product), "the adapter gets the bare prompt"
    example = brand_copy_examples(load_brand_copy("train")[:1])[0]["messages"]
    assert [m["role"] for m in example] == ["system", "user", "assistant"] and example[:2] == \
        instructed_copy_prompt(load_brand_copy("train")[0]), "trained on the prompt it is asked with"


def test_brand_copy_data_follows_the_guide_and_keeps_evaluation_products_apart():
    from course_lib.datasets import load_brand_copy
    from course_lib.prompting import rubric_check

    guide, train, evaluation = load_brand_guide(), load_brand_copy("train"), load_brand_copy("eval")
    assert all(rubric_check(p["description"], p, guide)["score"] == 1.0 for p in train)
    assert not any("description" in p for p in evaluation)
    names = [p["name"] for p in train + evaluation + load_products()]
    assert len(names) == len(set(names)), "no product is in two sets"
    with pytest.raises(DataError, match="brand_copy has no split 'test'"):
        load_brand_copy("test")
