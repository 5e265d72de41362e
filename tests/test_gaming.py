"""The cheapest ways to game the exercise checks, each tried and refused: Incorrect, with a reason that names no case
of a held-out set. Checks that run a model run the real local one, on samples small enough for seconds, not minutes.
"""

import ast
import json
import re

import pytest

from course_lib.checks import CORRECT, INCORRECT
from course_lib.datasets import load_requests, load_reviews, load_support_messages
from course_lib.notebooks import ROOT, exercise_module

EXERCISES = sorted((ROOT / "exercises").glob("[0-9][0-9]_*.ipynb"))
LEARNER_IMPORTS = ("from course_lib.datasets import load_products, load_reviews, load_support_messages\n"
                   "from course_lib.prompting import few_shot_prompt\n"
                   "pool = load_reviews('fewshot')\n")


def module_of(stem: str):
    return exercise_module(ROOT / "exercises" / f"{stem}.ipynb")


def answer(stem: str, name: str, code: str):
    """The Result of question `name` of lesson `stem` when the learner's cell runs `code`."""
    module = module_of(stem)
    namespace = dict(vars(module))
    exec(compile(LEARNER_IMPORTS + code, f"<{stem} {name} game>", "exec"), namespace)
    return getattr(module, name).evaluate(namespace)


# -- 01 q1: dev (scored) and test (held-out) reviews as few-shot examples, in any form -------------------------

def _reword(text: str) -> str:
    """A light rewording: lower case, no punctuation, the middle word replaced."""
    words = re.findall(r"[A-Za-z0-9']+", text.lower())
    words[len(words) // 2] = "honestly"
    return " ".join(words)


COPIES = {  # how the examples are taken from a held-out split -> code defining my_prompt
    "whole dev reviews": "shots = load_reviews('dev')[:12]\n"
                         "def my_prompt(review):\n    return few_shot_prompt(review['text'], shots)",
    "trimmed dev reviews": "shots = [dict(r, text=' '.join(r['text'].split()[:len(r['text'].split()) * 2 // 3]))\n"
                           "         for r in load_reviews('dev')[:12]]\n"
                           "def my_prompt(review):\n    return few_shot_prompt(review['text'], shots)",
    "reworded dev reviews": "shots = [dict(r, text=reword(r['text'])) for r in load_reviews('dev')[:12]]\n"
                            "def my_prompt(review):\n    return few_shot_prompt(review['text'], shots)",
    "dev reviews inside the last message": (
        "lines = '\\n'.join(f\"{r['text']} => {r['label']}\" for r in load_reviews('dev')[:12])\n"
        "def my_prompt(review):\n"
        "    return [{'role': 'user', 'content': lines + '\\n' + review['text'] + ' =>'}]"),
    "the other dev reviews, chosen per review": (
        "dev = load_reviews('dev')\n"
        "def my_prompt(review):\n"
        "    return few_shot_prompt(review['text'], [r for r in dev if r['text'] != review['text']][:6])"),
    "test reviews": "shots = load_reviews('test')[:12]\n"
                    "def my_prompt(review):\n    return few_shot_prompt(review['text'], shots)",
}


@pytest.mark.parametrize("how", sorted(COPIES))
def test_few_shot_examples_copied_from_a_held_out_split_are_refused(how):
    module = module_of("01_prompt_engineering")
    namespace = dict(vars(module), reword=_reword)
    exec(compile(LEARNER_IMPORTS + COPIES[how], "<game>", "exec"), namespace)
    result = module.q1.evaluate(namespace)
    split = "test split" if how.startswith("test") else "dev split"
    assert result.outcome == INCORRECT and split in result.message, result


def test_the_reference_few_shot_prompts_hold_no_held_out_review():
    """The copy detector leaves the pool's examples alone: no false alarm on the solution."""
    from course_lib.checks.guards import copied

    module = module_of("01_prompt_engineering")
    namespace = dict(vars(module))
    exec(compile(LEARNER_IMPORTS, "<setup>", "exec"), namespace)
    template = module.q1.blind(module.q1.run_solution(namespace)["my_prompt"])
    text = "\n".join(m["content"] for m in template)
    assert copied(text, load_reviews("dev") + load_reviews("test")) == []


# -- 01 q3: schema-valid JSON that never changes with the message -------------------------------------------

@pytest.mark.model
def test_json_prompt_whose_examples_show_one_fixed_answer_is_incorrect(monkeypatch):
    module = module_of("01_prompt_engineering")
    sample = load_support_messages("dev")[:4]  # four messages, decoded together: seconds on the local model
    monkeypatch.setattr(module.JsonEveryTime, "scored_messages", staticmethod(lambda: sample))
    fixed = {"product": None, "issue": "question", "urgent": False, "order_number": None}
    result = answer("01_prompt_engineering", "q3", f"""
import json

def json_prompt(message):
    turns = [{{"role": "system", "content": "Extract the fields of each customer message as JSON."}}]
    for m in load_support_messages("test")[:3]:
        turns += [{{"role": "user", "content": m["text"]}}, {{"role": "assistant", "content": {json.dumps(fixed)!r}}}]
    return turns + [{{"role": "user", "content": message["text"]}}]
""")
    assert result.outcome == INCORRECT and "fixed answer" in result.message, result


def test_json_prompt_never_sees_the_expected_values(monkeypatch):
    """The message dict a learner's function gets has no 'expected': the answer cannot be written into the prompt."""
    module = module_of("01_prompt_engineering")
    monkeypatch.setattr(module.JsonEveryTime, "scored_messages", staticmethod(lambda: load_support_messages("dev")[:2]))
    result = answer("01_prompt_engineering", "q3", """
def json_prompt(message):
    return [{"role": "user", "content": "Repeat: " + json.dumps(message["expected"]) + "\\n" + message["text"]}]
import json
""")
    assert result.outcome == INCORRECT and "KeyError" in result.message, result


# -- 02 q7: messages hard-coded for the one case the check used to try ----------------------------------------

def test_grounded_messages_hard_coded_for_one_case_are_incorrect():
    """Right messages for the one case the check used to try, returned whatever the question and passages."""
    module = module_of("02_rag")
    question, passages = module.q7.injection_case
    fixed = module.q7.run_solution(dict(vars(module)))["build_messages"](question, passages)
    namespace = dict(vars(module), build_messages=lambda question, passages: fixed)
    assert module.q7.structure(namespace["build_messages"], question, passages), "the game fits the fixed case"
    result = module.q7.evaluate(namespace)
    assert result.outcome == INCORRECT and "arguments" in result.message, result


@pytest.mark.model
def test_the_reference_grounded_messages_pass_on_fresh_cases_with_the_model():
    module = module_of("02_rag")
    namespace = module.q7.run_solution(dict(vars(module)))
    result = module.q7.evaluate(namespace)
    assert result.outcome == CORRECT and "answered" in result.message, result


# -- 04 q1 and q2: mistakes named only from a practice set, never from the set that is scored ------------------

def test_keyword_router_feedback_never_names_an_eval_request():
    """A lookup table of both loadable splits fails: every request is said with words drawn at check time, and
    eval's requests stay unnamed."""
    result = answer("04_combining", "q2", """
from course_lib.datasets import load_requests
SEEN = {r["request"]: r["route"] for r in load_requests("dev") + load_requests("eval")}

def keyword_route(request):
    return SEEN.get(request, "policy")
""")
    assert result.outcome == INCORRECT, result
    named = [r["request"] for r in load_requests("eval") if r["request"] in result.message]
    assert not named, named


def test_keyword_router_feedback_names_dev_mistakes_to_practise_on():
    result = answer("04_combining", "q2", 'def keyword_route(request):\n    return "policy"')
    assert result.outcome == INCORRECT
    assert any(r["request"] in result.message for r in load_requests("dev")), result


def test_few_shot_router_feedback_names_no_dev_request(monkeypatch):
    """The router check scores on dev, so its feedback counts mistakes by route instead of naming requests."""
    from course_lib.assistant import Routing

    module = module_of("04_combining")
    monkeypatch.setattr(module, "configured_client", lambda: (None, "any model"))
    monkeypatch.setattr(module, "route_requests", lambda client, model, requests, build, **kw: Routing(
        ["policy"] * len(requests), [100] * len(requests), [0.0] * len(requests)))
    result = answer("04_combining", "q1", """
from course_lib.assistant import route_prompt, router_examples
def my_route_prompt(request):
    return route_prompt(request, router_examples(per_route=2))
""")
    assert result.outcome == INCORRECT and "data → policy" in result.message, result
    assert not [r for r in load_requests("dev") if r["request"] in result.message]


# -- 04 q3: one wrong choice, and which one it is -----------------------------------------------------------

def _choices_with_one_wrong(key: str) -> dict:
    module = module_of("04_combining")
    choices = module.q3.run_solution(dict(vars(module)))["choices"]
    fits, _ = module._FITS[key]
    choices[key] = next(t for t in module.TECHNIQUES if t not in fits)
    return choices


def test_technique_feedback_does_not_say_which_case_is_wrong():
    module = module_of("04_combining")
    messages = set()
    for key, case in module.USE_CASES.items():
        result = answer("04_combining", "q3", f"choices = {_choices_with_one_wrong(key)!r}")
        assert result.outcome == INCORRECT, result
        assert case[:40] not in result.message and not re.search(r"\b[A-F]\b", result.message), result
        messages.add(result.message)
    assert len(messages) == 1, "one wrong case reads the same whichever case it is"


def test_the_cases_the_notebook_prints_carry_no_answers():
    module = module_of("04_combining")
    assert all(isinstance(case, str) for case in module.USE_CASES.values())
    assert not any(t in case for case in module.USE_CASES.values() for t in ("RAG", "fine-tun", "prompt engineering"))


def test_brand_voice_accepts_fine_tuning_and_says_when_each_applies():
    module = module_of("04_combining")
    choices = dict(module.q3.run_solution(dict(vars(module)))["choices"], D="fine-tuning")
    result = answer("04_combining", "q3", f"choices = {choices!r}")
    assert result.outcome == CORRECT, result
    assert "starting point" in result.message and "volume" in result.message, result


# -- hints: none but the last gives the answer away word for word --------------------------------------------

def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text.replace("'", '"'))


def _answer_parts(question) -> list[str]:
    """Statements of the reference solution long enough to be an answer, and the values its variables get."""
    parts = []
    for node in ast.walk(ast.parse(question.reference_code())):
        if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.Module)) or not isinstance(
                node, ast.stmt):
            continue
        parts.append(ast.unparse(node))
        if isinstance(node, ast.Return) and node.value is not None:
            parts.append(ast.unparse(node.value))
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id in question.variables
                                                for t in node.targets):
            parts.append(ast.unparse(node.value))
    return [p for p in map(_squash, parts) if len(p) >= 20]


@pytest.mark.parametrize("path", EXERCISES, ids=lambda p: p.stem)
def test_no_hint_but_the_last_gives_the_answer_verbatim(path):
    for question in exercise_module(path).progress.questions:
        parts = _answer_parts(question)
        for number, hint in enumerate(question.hints[:-1], start=1):
            given = [p for p in parts if p in _squash(hint)]
            assert not given, f"{path.stem} {question.name} hint {number} gives away {given}"
