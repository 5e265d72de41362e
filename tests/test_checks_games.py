"""Issue 32: every game named there, tried and refused, and feedback that never prints an expected value. These run
without a model (checks that need one are reached only after the refusal, or are marked `model`)."""

import json
import re

import pytest

from course_lib.checks import CORRECT, INCORRECT
from course_lib.notebooks import ROOT, exercise_module

SETUP = """
from course_lib.datasets import load_prices, load_reviews, load_requests, load_sql_pairs, load_support_messages
from course_lib.datasets import question_of
from course_lib.prompting import few_shot_prompt
from course_lib.sql import SQLError, run_query
pool = load_reviews('fewshot')
train, test = load_sql_pairs('train'), load_sql_pairs('test')
broken_lines = broken_training_lines() if 'broken_training_lines' in globals() else None
"""


def module_of(stem: str):
    return exercise_module(ROOT / "exercises" / f"{stem}.ipynb")


def evaluate(stem: str, name: str, code: str):
    module = module_of(stem)
    namespace = dict(vars(module))
    exec(compile(SETUP + code, f"<{stem} {name}>", "exec"), namespace)
    return getattr(module, name).evaluate(namespace)


def solution_result(stem: str, name: str):
    module = module_of(stem)
    namespace = dict(vars(module))
    exec(compile(SETUP, "<setup>", "exec"), namespace)
    question = getattr(module, name)
    return question.evaluate(question.run_solution(namespace))


# Right answers, wrong formulas, the course's own function, constants: (lesson, question) -> {what: code}.
# Each entry under "right" must get Correct; every other entry Incorrect. Model-free questions only.
ANSWERS = {
    ("01_prompt_engineering", "q2"): {
        "the course's parse_label": "from course_lib.prompting import parse_label as parse_sentiment",
        "the course's parser, called": "from course_lib.prompting import parse_label\n"
                                       "def parse_sentiment(text):\n    return parse_label(text)",
        "a label anywhere in the answer": "def parse_sentiment(text):\n"
                                          "    t = text.lower()\n"
                                          "    return 'positive' if 'positive' in t else 'negative' if 'negative' in t "
                                          "else None",
        "a constant": "def parse_sentiment(text):\n    return 'positive'",
        "no lower-casing": "import re\ndef parse_sentiment(text):\n    w = re.findall('[a-zA-Z]+', text)\n"
                           "    return w[0] if w and w[0].lower() in ('positive', 'negative') else None",
    },
    ("01_prompt_engineering", "q4"): {
        "the course's delimit": "from course_lib.prompting import delimit",
        "tags removed once": "def delimit(text):\n    t = text.replace('<review>', '').replace('</review>', '')\n"
                            "    return f'<review>\\n{t}\\n</review>'",
        "no removal": "def delimit(text):\n    return f'<review>\\n{text}\\n</review>'",
        "a constant": "def delimit(text):\n    return '<review>\\n\\n</review>'",
    },
    ("02_rag", "q1"): {
        "the course's split_words": "from course_lib.chunking import split_words as chunk_words",
        "split_words called": "from course_lib.chunking import split_words\n"
                              "def chunk_words(text, size, overlap):\n    return split_words(text, size, overlap)",
        "no stop at the last word": "def chunk_words(text, size, overlap):\n    w = text.split()\n"
                                    "    return [' '.join(w[i:i + size]) for i in range(0, len(w), size - overlap)]",
        "no overlap": "def chunk_words(text, size, overlap):\n    w = text.split()\n"
                      "    return [' '.join(w[i:i + size]) for i in range(0, len(w), size)]",
        "a constant": "def chunk_words(text, size, overlap):\n    return [text]",
    },
    ("02_rag", "q2"): {
        "divided by k": "def recall_at_k(retrieved, relevant, k):\n"
                        "    return len(set(retrieved[:k]) & set(relevant)) / k",
        "duplicates counted twice": "def recall_at_k(retrieved, relevant, k):\n"
                                    "    return sum(r in relevant for r in retrieved[:k]) / len(set(relevant))",
        "a constant": "def recall_at_k(retrieved, relevant, k):\n    return 0.5",
        "the course's recall, called": "from course_lib.rag_metrics import recall_at_k as r\n"
                                       "def recall_at_k(retrieved, relevant, k):\n"
                                       "    return r([{x} for x in retrieved], [{x} for x in relevant], k)",
    },
    ("02_rag", "q3"): {
        "ranks from 0": "def mean_reciprocal_rank(runs):\n"
                        "    return sum(next((1 / max(i, 1) for i, x in enumerate(r) if x in s), 0) for r, s in runs)"
                        " / len(runs)",
        "the last relevant id": "def mean_reciprocal_rank(runs):\n"
                                "    return sum(max((1 / (i + 1) for i, x in enumerate(r) if x in s), default=0) "
                                "if False else next((1 / (len(r) - i) for i, x in enumerate(reversed(r)) if x in s), 0)"
                                " for r, s in runs) / len(runs)",
        "the course's reciprocal_rank, called": "from course_lib.rag_metrics import reciprocal_rank\n"
                                                "def mean_reciprocal_rank(runs):\n"
                                                "    return sum(reciprocal_rank([{x} for x in r], [set(s)]) "
                                                "for r, s in runs) / len(runs)",
        "a constant": "def mean_reciprocal_rank(runs):\n    return 1.0",
    },
    ("02_rag", "q4"): {
        "ranks counted from 0": "def fuse(rankings, k=60):\n    scores = {}\n    for ranking in rankings:\n"
                                "        for rank, item in enumerate(ranking):\n"
                                "            scores[item] = scores.get(item, 0.0) + 1 / (k + rank)\n"
                                "    return sorted(scores, key=scores.get, reverse=True)",
        "the course's fusion": "from course_lib.retrieval import reciprocal_rank_fusion\n"
                               "def fuse(rankings, k=60):\n"
                               "    return [i for i, _ in reciprocal_rank_fusion(rankings, k)]",
        "first come first served": "def fuse(rankings, k=60):\n"
                                   "    return list(dict.fromkeys(i for r in rankings for i in r))",
        "k ignored": "def fuse(rankings, k=60):\n    scores = {}\n    for ranking in rankings:\n"
                     "        for rank, item in enumerate(ranking, start=1):\n"
                     "            scores[item] = scores.get(item, 0.0) + 1 / (60 + rank)\n"
                     "    return sorted(scores, key=scores.get, reverse=True)",
    },
    ("02_rag", "q6"): {
        "the course's year_filter": "from course_lib.retrieval import year_filter as where_for",
        "2025 looked up": "def where_for(question):\n    return {'year': 2025} if '2025' in question else None",
        "a constant": "def where_for(question):\n    return {'year': 2026}",
        "the year as text": "import re\ndef where_for(question):\n    y = re.findall(r'\\b20\\d\\d\\b', question)\n"
                            "    return {'year': y[0]} if y else None",
    },
    ("03_fine_tuning", "q1"): {
        "rebuilt from train[:10]": "import json\n"
                                   "fixed_lines = [json.dumps({'messages': e['messages']}) for e in train[:10]]",
        "broken lines dropped, none repaired": "from course_lib.finetune import validate_lines\n"
                                               "broken = broken_training_lines()\n"
                                               "fixed_lines = [l for n, l in enumerate(broken) "
                                               "if n not in (2, 5, 8, 9, 10)]",
        "a constant": "fixed_lines = []",
    },
    ("03_fine_tuning", "q2"): {
        "seeds tried until the practice set matches": (
            "def find_leaks(train, test):\n"
            "    for seed in range(50):\n"
            "        if contaminated_training_set(seed) == train:\n"
            "            return [i for i, e in enumerate(train) if question_of(e).lower().strip(' ?') in\n"
            "                    {question_of(t).lower().strip(' ?') for t in test}]\n"
            "    return []"),
        "the validator's leak finder": "import json\nfrom course_lib.finetune import validate_lines\n"
                                       "def find_leaks(train, test):\n"
                                       "    r = validate_lines([json.dumps(e) for e in train], holdout=test, "
                                       "count_tokens=len)\n"
                                       "    return [i.line - 1 for i in r.issues]",
        "exact matches only": "def find_leaks(train, test):\n    asked = {question_of(t) for t in test}\n"
                              "    return [i for i, e in enumerate(train) if question_of(e) in asked]",
        "a constant": "def find_leaks(train, test):\n    return [0, 1, 2]",
    },
    ("03_fine_tuning", "q4"): {
        "loss on the prompt": "def answer_labels(prompt_ids, answer_ids):\n    return list(prompt_ids) + "
                              "list(answer_ids)",
        "one label short": "def answer_labels(prompt_ids, answer_ids):\n"
                           "    return [-100] * (len(prompt_ids) - 1) + list(answer_ids)",
        "a constant": "def answer_labels(prompt_ids, answer_ids):\n    return [-100]",
    },
    ("03_fine_tuning", "q6"): {
        "the course's execution_match": "from course_lib.sql import execution_match",
        "the course's row comparison": "from course_lib.sql import results_match\n"
                                       "def execution_match(p, g):\n"
                                       "    try:\n        rows = run_query(p).rows\n    except SQLError:\n"
                                       "        return False\n"
                                       "    return results_match(rows, run_query(g).rows, 'ORDER BY' in g.upper())",
        "sets, not multisets": "def execution_match(p, g):\n"
                               "    try:\n        return set(run_query(p).rows) == set(run_query(g).rows)\n"
                               "    except SQLError:\n        return False",
        "the text compared": "def execution_match(p, g):\n    return ' '.join(p.split()) == ' '.join(g.split())",
        "a constant": "def execution_match(p, g):\n    return True",
    },
    ("03_fine_tuning", "q7"): {
        "the course's ungrounded_values": "from course_lib.finetune import ungrounded_values\n"
                                          "def looks_wrong(example):\n    return bool(ungrounded_values(example))",
        "the swapped answers looked up from corrupt_answers' old seed": (
            "from course_lib.finetune import corrupt_answers\n"
            "bad, changed = corrupt_answers(train, share=0.3, seed=5)\n"
            "SWAPPED = {json.dumps(bad[i]) for i in changed}\nimport json\n"
            "def looks_wrong(example):\n    return json.dumps(example) in SWAPPED"),
        "a constant": "def looks_wrong(example):\n    return True",
        "the training split looked up": "ORIGINAL = {question_of(e): e['messages'][-1]['content'] for e in train}\n"
                                        "def looks_wrong(example):\n"
                                        "    sql = example['messages'][-1]['content']\n"
                                        "    return ORIGINAL.get(question_of(example), sql) != sql",
    },
    ("04_combining", "q2"): {
        "a lookup of the dev and eval splits": (
            "SEEN = {r['request']: r['route'] for r in load_requests('dev') + load_requests('eval')}\n"
            "def keyword_route(request):\n    return SEEN.get(request, 'policy')"),
        "a constant": "def keyword_route(request):\n    return 'policy'",
        "one word": "def keyword_route(request):\n    return 'writing' if 'write' in request.lower() else 'policy'",
    },
    ("04_combining", "q3"): {
        "one wrong": "choices = {'A': 'fine-tuning', 'B': 'prompt engineering', 'C': 'fine-tuning', "
                     "'D': 'prompt engineering', 'E': 'RAG', 'F': 'fine-tuning'}",
        "a constant": "choices = {k: 'RAG' for k in 'ABCDEF'}",
        "two wrong": "choices = {'A': 'RAG', 'B': 'RAG', 'C': 'RAG', 'D': 'prompt engineering', 'E': 'RAG', "
                     "'F': 'fine-tuning'}",
    },
    ("04_combining", "q4"): {
        "budget ignored": "def best_under_budget(summary, max_tokens):\n"
                          "    return max(summary, key=lambda n: summary[n]['quality']) if summary else None",
        "ties to the dearer row": "def best_under_budget(summary, max_tokens):\n"
                                  "    fits = {n: r for n, r in summary.items() if r['tokens per request'] <= "
                                  "max_tokens}\n"
                                  "    return max(fits, key=lambda n: (fits[n]['quality'], "
                                  "fits[n]['tokens per request'])) if fits else None",
        "strictly under the budget": "def best_under_budget(summary, max_tokens):\n"
                                     "    fits = {n: r for n, r in summary.items() if r['tokens per request'] < "
                                     "max_tokens}\n"
                                     "    return max(fits, key=lambda n: (fits[n]['quality'], "
                                     "-fits[n]['tokens per request'])) if fits else None",
        "a constant": "def best_under_budget(summary, max_tokens):\n    return None",
    },
}
NEEDS_MODEL = {("02_rag", "q6"), ("03_fine_tuning", "q1")}  # the embedding model; the tokenizer (validator)


def _marked(*values):
    return pytest.param(*values, marks=pytest.mark.model) if tuple(values[:2]) in NEEDS_MODEL else pytest.param(*values)


WRONG = [_marked(stem, name, what) for (stem, name), answers in ANSWERS.items() for what in answers]
REFUSED_AS_REUSE = {"the course's parse_label", "the course's parser, called", "the course's delimit",
                    "the course's split_words", "split_words called", "the course's recall, called",
                    "the course's reciprocal_rank, called", "the course's fusion", "the course's year_filter",
                    "the validator's leak finder", "the course's execution_match", "the course's row comparison",
                    "the course's ungrounded_values"}


@pytest.mark.parametrize("stem,name,what", WRONG, ids=lambda v: str(v))
def test_wrong_answers_and_shortcuts_are_incorrect(stem, name, what):
    result = evaluate(stem, name, ANSWERS[(stem, name)][what])
    assert result.outcome == INCORRECT and "loads a model" not in result.message, result
    if what in REFUSED_AS_REUSE:
        assert "ready-made" in result.message and "write the logic yourself" in result.message, result


@pytest.mark.parametrize("stem,name", [_marked(*k) for k in sorted(ANSWERS)], ids=lambda v: str(v))
def test_every_model_free_question_has_three_wrong_answers_and_a_right_one(stem, name):
    assert len(ANSWERS[(stem, name)]) >= 3
    assert solution_result(stem, name).outcome == CORRECT


@pytest.mark.parametrize("stem,name", [k for k in sorted(ANSWERS) if k[0] != "04_combining" or k[1] == "q4"],
                         ids=lambda v: str(v))
def test_function_checks_draw_new_cases_every_time(stem, name):
    """Two checks of the same wrong function fail on different draws: the cases are not a fixed list to learn."""
    question = getattr(module_of(stem), name)
    if not hasattr(question, "cases") or not callable(question.cases):
        pytest.skip("not a function check on generated cases")
    from course_lib.checks import fresh_rng

    assert repr(question.cases(fresh_rng())) != repr(question.cases(fresh_rng()))


# -- feedback: the kind of mistake and how many, never an expected value ---------------------------------------

def _reference_outputs(stem, name):
    module = module_of(stem)
    question = getattr(module, name)
    namespace = dict(vars(module))
    exec(compile(SETUP, "<setup>", "exec"), namespace)
    return question, question.run_solution(namespace)[question.variables[0]]


@pytest.mark.parametrize("stem,name,what", [w.values for w in WRONG if w.values[:2] in {
    ("01_prompt_engineering", "q2"), ("02_rag", "q2"), ("02_rag", "q3"), ("02_rag", "q4"), ("03_fine_tuning", "q4"),
    ("03_fine_tuning", "q6"), ("04_combining", "q4")} and w.values[2] not in REFUSED_AS_REUSE], ids=lambda v: str(v))
def test_function_feedback_prints_no_expected_value(stem, name, what):
    """The message counts failed cases by kind; no reference output of any drawn case appears in it."""
    result = evaluate(stem, name, ANSWERS[(stem, name)][what])
    assert result.outcome == INCORRECT and re.search(r"wrong on \d+ of \d+ cases", result.message), result
    assert "expected" not in result.message.lower(), result
    question, reference = _reference_outputs(stem, name)
    from course_lib.checks import fresh_rng

    for _, args in question.cases(fresh_rng()):
        value = reference(*args)
        if isinstance(value, (list, float)) and value not in ([], 0.0, 1.0):
            assert repr(value) not in result.message and str(value) not in result.message


def test_technique_choice_gives_one_verdict_whatever_is_wrong():
    """No count, no case: one wrong choice and five read the same, so single changes find nothing."""
    messages = {evaluate("04_combining", "q3", code).message for code in ANSWERS[("04_combining", "q3")].values()}
    assert len(messages) == 1, messages
    assert not re.search(r"\b\d+ (of|choices?|cases?)\b", messages.pop())


def test_find_leaks_feedback_names_no_position_or_question():
    result = evaluate("03_fine_tuning", "q2", ANSWERS[("03_fine_tuning", "q2")]["exact matches only"])
    assert result.outcome == INCORRECT and "copies in upper case" in result.message, result
    assert not [t for t in module_of("03_fine_tuning").load_sql_pairs("test") if t["messages"][1]["content"]
                in result.message]
    assert "position" not in result.message


def test_the_practice_set_carries_no_answer_key():
    """contaminated_training_set returns the examples only; the planted positions stay inside the check."""
    practice = module_of("03_fine_tuning").contaminated_training_set(seed=0)
    assert isinstance(practice, list) and all(isinstance(e, dict) and "messages" in e for e in practice)


def test_the_broken_file_is_not_a_split_prefix():
    module = module_of("03_fine_tuning")
    good = {line for line in module.broken_training_lines() if line.endswith("}")}
    first = {json.dumps({"messages": e["messages"]}) for e in module.load_sql_pairs("train")[:10]}
    assert len(good & first) < 3


# -- prompts built blind: the scored item cannot sit in any turn -----------------------------------------------

def test_few_shot_prompt_gets_an_item_it_cannot_look_up():
    """The old game: look the item up in dev and append it, with its label, as the last worked example."""
    result = evaluate("01_prompt_engineering", "q1", """
LABEL = {r["text"]: r["label"] for r in load_reviews("dev")}
def my_prompt(review):
    shots = pool[:4] + [{"text": review["text"], "label": LABEL.get(review["text"], "positive")}]
    return few_shot_prompt(review["text"], shots)
""")
    assert result.outcome == INCORRECT and "once, in the last user message" in result.message, result


def test_few_shot_prompt_holding_dev_reviews_in_an_earlier_turn_is_refused():
    result = evaluate("01_prompt_engineering", "q1", """
notes = "\\n".join(r["text"] for r in load_reviews("dev")[:3])
def my_prompt(review):
    return [{"role": "system", "content": notes}] + few_shot_prompt(review["text"], pool[:4])
""")
    assert result.outcome == INCORRECT and "dev split" in result.message, result


def test_json_prompt_with_the_item_as_its_last_example_is_refused():
    result = evaluate("01_prompt_engineering", "q3", """
import json
ANSWERS = {m["text"]: m["expected"] for m in load_support_messages("dev")}
def json_prompt(message):
    return [{"role": "user", "content": message["text"]},
            {"role": "assistant", "content": json.dumps(ANSWERS.get(message["text"], {}))},
            {"role": "user", "content": message["text"]}]
""")
    assert result.outcome == INCORRECT and "once, in the last user message" in result.message, result


def test_router_prompt_with_the_request_looked_up_is_refused():
    result = evaluate("04_combining", "q1", """
from course_lib.assistant import route_prompt, router_examples
ROUTE = {r["request"]: r["route"] for r in load_requests("dev")}
def my_route_prompt(request):
    shots = router_examples(per_route=2) + [{"request": request, "route": ROUTE.get(request, "policy")}]
    return route_prompt(request, shots, instruction="")
""")
    assert result.outcome == INCORRECT and "once, in the last user message" in result.message, result


def test_router_prompt_holding_eval_requests_is_refused():
    result = evaluate("04_combining", "q1", """
from course_lib.assistant import route_prompt
shots = load_requests("eval")[:6]
def my_route_prompt(request):
    return route_prompt(request, shots)
""")
    assert result.outcome == INCORRECT and "eval split" in result.message, result


# -- hard cases, written not repeated or copied ------------------------------------------------------------------

def test_hard_cases_repeated_or_copied_are_refused():
    repeated = evaluate("01_prompt_engineering", "q5",
                        'hard_cases = [{"text": "Terrible, it smears.", "label": "negative"}] * 5')
    assert repeated.outcome == INCORRECT and "different" in repeated.message, repeated
    copied = evaluate("01_prompt_engineering", "q5", "hard_cases = [dict(text=r['text'], label=r['label']) "
                                                     "for r in load_reviews('dev') if r['label'] == 'negative'][:6]")
    assert copied.outcome == INCORRECT and "copies" in copied.message, copied


# -- checks that measure with the model: right answers, near misses, constants -----------------------------------

SETUP_00 = "from course_lib.llm import setup\nclient, settings = setup(show=False)\nMODEL = settings.chat_model\n"
MODEL_ANSWERS = {
    ("00_setup", "q1"): {
        "another question": "first = client.chat.completions.create(model=MODEL, max_tokens=12, temperature=0, "
                            "messages=[{'role': 'user', 'content': 'Say hello.'}])",
        "too many tokens": "first = client.chat.completions.create(model=MODEL, max_tokens=60, temperature=0, "
                           "messages=[{'role': 'user', 'content': 'Write a long poem about a plant-based dish soap "
                           "and everything it is made from.'}])",
        "only the text": "first = 'Coconut oil.'",
    },
    ("00_setup", "q2"): {
        "words counted": "n_tokens = len('Are eyeglasses covered by my health plan?'.split())",
        "characters counted": "n_tokens = len('Are eyeglasses covered by my health plan?')",
        "a constant": "n_tokens = 1",
    },
    ("00_setup", "q3"): {
        "a constant": "def ask(question, max_tokens=20):\n    return 'ok'",
        "max_tokens not passed on": "def ask(question, max_tokens=20):\n"
                                    "    return client.chat.completions.create(model=MODEL, max_tokens=40, "
                                    "temperature=0, messages=[{'role': 'user', 'content': question}])"
                                    ".choices[0].message.content",
        "the question echoed": "def ask(question, max_tokens=20):\n    return question",
    },
    ("01_prompt_engineering", "q6"): {
        "per 1,000 reviews": "from course_lib.exercises.ex01_prompt_engineering import q6\n"
                             "cost_usd = 0.0",  # replaced below by the measured estimate / 1000
        "a constant": "cost_usd = 12.0",
        "not a number": "cost_usd = '$60'",
    },
    ("03_fine_tuning", "q3"): {
        "one epoch": "cost_usd = 0.0",  # replaced below by the measured estimate / 3
        "a constant": "cost_usd = 1.0",
        "not a number": "cost_usd = None",
    },
}


@pytest.mark.model
@pytest.mark.parametrize("stem,name,what", [(s, n, w) for (s, n), a in MODEL_ANSWERS.items() for w in a],
                         ids=lambda v: str(v))
def test_measured_checks_refuse_wrong_answers(stem, name, what):
    code = MODEL_ANSWERS[(stem, name)][what]
    question = getattr(module_of(stem), name)
    if what in ("per 1,000 reviews", "one epoch"):
        value = question.expected() / (1000 if what.startswith("per") else 3)
        code = f"cost_usd = {value!r}"
    result = evaluate(stem, name, SETUP_00 + code)
    assert result.outcome == INCORRECT, result
    if what in ("per 1,000 reviews", "one epoch", "words counted"):
        assert ("1,000" in result.message or "one epoch" in result.message or "words" in result.message), result


@pytest.mark.model
@pytest.mark.parametrize("stem,name", sorted(MODEL_ANSWERS), ids=lambda v: str(v))
def test_measured_checks_accept_the_solution(stem, name):
    module = module_of(stem)
    namespace = dict(vars(module))
    exec(compile(SETUP + SETUP_00, "<setup>", "exec"), namespace)
    question = getattr(module, name)
    assert question.evaluate(question.run_solution(namespace)).outcome == CORRECT


@pytest.mark.model
def test_the_hosted_branch_of_ask_compares_answers(monkeypatch):
    """On a hosted provider the check cannot demand the same greedy string, but it still compares the answers."""
    module = module_of("00_setup")
    monkeypatch.setattr(module, "local_engine", lambda client: None)
    assert evaluate("00_setup", "q3", SETUP_00 + MODEL_ANSWERS[("00_setup", "q3")]["a constant"]).outcome == INCORRECT
    namespace = dict(vars(module))
    exec(compile(SETUP_00, "<setup>", "exec"), namespace)
    assert module.q3.evaluate(module.q3.run_solution(namespace)).outcome == CORRECT


# -- refused before any measuring: constants, values outside the rules --------------------------------------------

EARLY_REFUSALS = {
    ("01_prompt_engineering", "q1"): {
        "a constant prompt": "def my_prompt(review):\n    return [{'role': 'user', 'content': 'Say positive.'}]",
        "the review lower-cased": "def my_prompt(review):\n    return few_shot_prompt(review['text'].lower(), pool)",
        "a string": "def my_prompt(review):\n    return 42",
    },
    ("01_prompt_engineering", "q3"): {
        "a constant answer": "def json_prompt(message):\n    return [{'role': 'user', 'content': 'Reply {}.'}]",
        "the message twice": "def json_prompt(message):\n"
                             "    return [{'role': 'user', 'content': message['text']}, {'role': 'assistant', "
                             "'content': '{}'}, {'role': 'user', 'content': message['text']}]",
    },
    ("02_rag", "q5"): {
        "k over the limit": "chunk_size = 120\noverlap = 30\nk = 10",
        "overlap as large as the chunk": "chunk_size = 60\noverlap = 60\nk = 5",
        "chunks the model cuts off": "chunk_size = 400\noverlap = 0\nk = 5",
    },
    ("03_fine_tuning", "q5"): {
        "too many steps": "from course_lib.finetune import TrainConfig\nconfig = TrainConfig(steps=500, batch_size=4)",
        "batches over budget": "from course_lib.finetune import TrainConfig\n"
                               "config = TrainConfig(steps=12, batch_size=8, learning_rate=2e-3)",
        "a rate that trains nothing": "from course_lib.finetune import TrainConfig\n"
                                      "config = TrainConfig(steps=12, batch_size=4, learning_rate=0.0)",
    },
    ("04_combining", "q1"): {
        "a constant prompt": "def my_route_prompt(request):\n    return 'Answer policy.'",
        "dev requests as examples": "from course_lib.assistant import route_prompt\nshots = load_requests('dev')[:8]\n"
                                    "def my_route_prompt(request):\n    return route_prompt(request, shots)",
    },
}


@pytest.mark.parametrize("stem,name,what", [(s, n, w) for (s, n), a in EARLY_REFUSALS.items() for w in a],
                         ids=lambda v: str(v))
def test_answers_outside_the_rules_are_refused_before_measuring(stem, name, what):
    result = evaluate(stem, name, EARLY_REFUSALS[(stem, name)][what])
    assert result.outcome == INCORRECT and "loads a model" not in result.message, result
