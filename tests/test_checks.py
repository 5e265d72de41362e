"""The exercise engine: Not attempted / Incorrect (why) / Correct, never an exception, one outcome word."""

import re

from course_lib.checks import CORRECT, INCORRECT, NOT_ATTEMPTED, Incorrect, Question, ____, bind

OUTCOMES = re.compile(r"\b(Correct|Incorrect|Not attempted)\b")


class Double(Question):
    """Write double(x)"""

    variables = ["double"]
    hints = ["Multiply by two.", "return 2 * x"]
    solution_code = """
    def double(x):
        return 2 * x
    """

    def verify(self, double):
        for x in (0, 3, -2):
            got = self.call(double, x)
            if got != 2 * x:
                raise Incorrect(f"double({x}) returned {got!r}; expected {2 * x}. Correct it and retry.")


class Answer(Question):
    """Say 42"""

    variables = ["answer"]
    solution_code = "answer = 42"

    def verify(self, answer):
        if answer != 42:
            raise Incorrect(f"{answer!r} is not the answer.")


module = {}
progress = bind(module, "demo", [Double, Answer])
q1, q2 = module["q1"], module["q2"]


def outcome_words(result) -> list[str]:
    return OUTCOMES.findall(repr(result))


def test_placeholder_and_missing_are_not_attempted():
    assert q2.evaluate({"answer": ____}).outcome == NOT_ATTEMPTED
    assert q2.evaluate({}).outcome == NOT_ATTEMPTED
    assert q1.evaluate({"double": lambda x: ____}).outcome == NOT_ATTEMPTED


def test_wrong_answer_is_incorrect_with_reason():
    result = q1.evaluate({"double": lambda x: x + 2})
    assert result.outcome == INCORRECT and "double(0) returned 2" in result.message


def test_exceptions_in_learner_code_become_incorrect():
    def broken(x):
        raise ZeroDivisionError("boom")

    result = q1.evaluate({"double": broken})
    assert result.outcome == INCORRECT and "ZeroDivisionError" in result.message


def test_solution_is_correct_and_runs_as_reference():
    scope = q1.run_solution({})
    assert q1.evaluate(scope).outcome == CORRECT
    assert q2.evaluate(q2.run_solution({})).outcome == CORRECT


def test_exactly_one_outcome_word_in_plain_text():
    for result in (q1.evaluate({}), q1.evaluate({"double": lambda x: x + 2}), q1.evaluate(q1.run_solution({}))):
        assert len(outcome_words(result)) == 1, repr(result)
        assert result.outcome in result._repr_html_()


def test_check_never_raises_and_prints(capsys):
    q2.check({"answer": object()})
    q2.check({"answer": 42})
    out = capsys.readouterr().out
    assert "Incorrect" in out and "Correct: q2" in out


def test_progress_counts_last_outcomes():
    q1.evaluate(q1.run_solution({}))
    q2.evaluate({"answer": 41})
    table = dict((name, status) for name, _, status in progress.table())
    assert table == {"q1": CORRECT, "q2": INCORRECT}
    assert "1 of 2 exercises solved" in repr(progress)


def test_hints_are_graded(capsys):
    q1.hint()
    q1.hint(2)
    q1.hint(9)
    out = capsys.readouterr().out
    assert "hint 1 of 2" in out and "return 2 * x" in out


# -- the course's own function, swapped out while the learner's code runs ----------------------------------------

def reference_triple(x):
    return 3 * x


class Triple(Question):
    """Write triple(x)"""

    variables = ["triple"]
    references = (reference_triple,)
    solution_code = "def triple(x):\n    return 3 * x"

    def verify(self, triple):
        if self.call(triple, 2) != 6:
            raise Incorrect("triple(2) is not 6.")


triple_q = bind({}, "demo", [Triple]).questions[0]


def test_the_reference_itself_a_call_to_it_or_a_swallowed_call_is_refused():
    import functools

    alias = reference_triple

    def calls_it(x):
        return alias(x)

    def swallows_it(x):
        try:
            return reference_triple(x)
        except Exception:
            return 3 * x

    for answer in (reference_triple, functools.partial(reference_triple), calls_it, swallows_it):
        result = triple_q.evaluate({"triple": answer})
        assert result.outcome == INCORRECT and "ready-made" in result.message, (answer, result)
    assert triple_q.evaluate(triple_q.run_solution({})).outcome == CORRECT
    assert reference_triple(2) == 6, "the reference works again after the check"
