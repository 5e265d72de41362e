"""The exercise engine: `____` placeholders, `q1.check()`, `q1.hint()`, `q1.solution()`. Taught in 00_setup.

After Kaggle's learntools. A lesson's exercise module defines one small class per question::

    class FirstWords(Question):
        \"\"\"Ask the local model to continue a sentence.\"\"\"
        variables = ["reply"]                      # what the learner's cell defines
        hints = ["Call client.completions.create(...)", "..."]
        solution_code = 'reply = client.completions.create(...).choices[0].text'
        def verify(self, reply):                   # raise Incorrect("why") when the answer is wrong
            ...

and `bind(globals(), [FirstWords, ...])` creates `q1`, `q2`, … in that module. `check()` never raises: it shows
exactly one of **Correct**, **Incorrect** (with a reason) or **Not attempted**, so a notebook of unanswered
exercises still runs top to bottom. The solution is real code kept once: the solutions notebooks are made from it
(`python -m course_lib solutions`) and checks may run it to get the expected answer.
"""

from __future__ import annotations

import abc
import html
import inspect
import textwrap
import traceback
from dataclasses import dataclass

from .guards import ReferenceUsed, is_reference, reference_name, swapped_out

CORRECT, INCORRECT, NOT_ATTEMPTED = "Correct", "Incorrect", "Not attempted"


class _Placeholder:
    """The blank `____` a learner replaces; any check that meets it reports Not attempted."""

    def __repr__(self) -> str:
        return "____"

    def __call__(self, *args, **kwargs):  # `____(...)` inside a learner's function stays "not attempted"
        raise NotAttempted()


____ = _Placeholder()


class Incorrect(Exception):
    """Raised by a question's `verify` with a kind, specific reason."""


class NotAttempted(Exception):
    """Raised when a checked value is (or calls) the placeholder."""


def is_placeholder(value) -> bool:
    return value is ____ or isinstance(value, _Placeholder)


@dataclass
class Result:
    """What one check found; shows as coloured HTML in Jupyter and as one plain line elsewhere."""

    question: str
    outcome: str  # Correct | Incorrect | Not attempted
    message: str = ""

    def __repr__(self) -> str:
        return f"{self.outcome}: {self.question}" + (f" — {self.message}" if self.message else "")

    def _repr_html_(self) -> str:
        colour = {CORRECT: "#1a7f37", INCORRECT: "#cf222e", NOT_ATTEMPTED: "#6e7781"}[self.outcome]
        text = html.escape(self.message).replace("\n", "<br>")
        return (f'<div style="border-left:4px solid {colour};padding:2px 8px"><b style="color:{colour}">'
                f"{self.outcome}</b>: {html.escape(self.question)}" + (f"<br>{text}" if text else "") + "</div>")


def _show(obj) -> None:
    try:
        from IPython import get_ipython
        from IPython.display import display

        if get_ipython() is not None:
            display(obj)
            return
    except ImportError:
        pass
    print(repr(obj))


def _clean(message: str) -> str:
    """Keep the three outcome words unambiguous: a reason never says 'Correct' or 'Not attempted' itself."""
    return message.replace(CORRECT, "correct").replace(NOT_ATTEMPTED, "not attempted").replace(INCORRECT, "incorrect")


class Question(abc.ABC):
    """One exercise. Subclasses set `variables`, `hints`, `solution_code` and implement `verify`."""

    variables: list[str] = []  # names the learner's cell defines, passed to verify in this order
    hints: list[str] = []  # graded: hint(1) nudges, the last one nearly gives the answer away
    solution_code: str = ""  # the reference code, shown by solution() and copied into the solutions notebook
    references: tuple = ()  # the course's own functions for this job: the learner's code may not be or call them
    name = "q?"  # set by bind(): q1, q2, …
    status = NOT_ATTEMPTED  # the last outcome of check(), for progress()

    @property
    def title(self) -> str:
        return (inspect.getdoc(self) or type(self).__name__).splitlines()[0]

    @abc.abstractmethod
    def verify(self, *values) -> None:
        """Raise Incorrect("why") when the learner's values are wrong; return normally when they are right."""

    # -- what the learner calls ------------------------------------------------------------------------------
    def check(self, namespace: dict | None = None) -> None:
        """Check the learner's answer and show Correct, Incorrect (why) or Not attempted. Never raises."""
        if namespace is None:
            namespace = inspect.currentframe().f_back.f_globals
        _show(self.evaluate(namespace))

    def evaluate(self, namespace: dict) -> Result:
        """The Result of checking the variables in `namespace` (what check() shows)."""
        label = f"{self.name} · {self.title}"
        try:
            missing = [v for v in self.variables if v not in namespace]
            if missing:
                outcome = Result(label, NOT_ATTEMPTED, f"Define {', '.join(missing)} in the cell above, "
                                                       "then run this check again.")
            elif any(is_placeholder(namespace[v]) for v in self.variables):
                outcome = Result(label, NOT_ATTEMPTED, "Replace ____ with your answer, then run this check again.")
            else:
                self.namespace = namespace
                self.verify(*(namespace[v] for v in self.variables))
                outcome = Result(label, CORRECT, getattr(self, "praise", ""))
        except NotAttempted:
            outcome = Result(label, NOT_ATTEMPTED, "Your answer still uses ____; replace it, then check again.")
        except Incorrect as exc:
            outcome = Result(label, INCORRECT, _clean(str(exc)))
        except Exception as exc:  # the learner's code (or a value of the wrong type) failed inside the check
            where = traceback.extract_tb(exc.__traceback__)[-1]
            outcome = Result(label, INCORRECT, _clean(f"Your answer raised {type(exc).__name__}: {exc} "
                                                      f"(line {where.lineno} of {where.name})."))
        type(self).status = outcome.outcome
        return outcome

    def call(self, function, *args, **kwargs):
        """Call the learner's function with the course's own functions for the job swapped out; a function that
        still returns ____ counts as not attempted."""
        if is_reference(function, self.references):
            raise Incorrect(self.reused(next(reference_name(r) for r in self.references
                                             if is_reference(function, (r,)))))
        try:
            with swapped_out(self.references) as called:
                result = function(*args, **kwargs)
        except ReferenceUsed:
            called = called or [""]
        if called:  # also when the learner's code caught the stop and went on
            raise Incorrect(self.reused(called[0]))
        if is_placeholder(result):
            raise NotAttempted()
        return result

    def reused(self, name: str = "") -> str:
        """Why an answer that is, or calls, the course's own function for the job is refused."""
        which = f"`{name.removeprefix('course_lib.')}`" if name else "the course's own function"
        return (f"Your answer is, or calls, {which}, the course's ready-made version of what this exercise asks "
                "you to write. It would pass without showing that you can; write the logic yourself.")

    def hint(self, n: int = 1) -> None:
        """Show hint n (1 = gentlest). There are len(hints) hints."""
        if not self.hints:
            _show(_Note(f"{self.name} has no hints."))
            return
        n = max(1, min(n, len(self.hints)))
        more = f" (hint {n} of {len(self.hints)}; try {self.name}.hint({n + 1}) for more)" if n < len(self.hints) \
            else f" (hint {n} of {len(self.hints)})"
        _show(_Note(f"Hint{more}: {self.hints[n - 1]}"))

    def reference_code(self) -> str:
        """The reference solution, dedented."""
        return textwrap.dedent(self.solution_code).strip()

    def solution(self) -> None:
        """Show the reference solution as code."""
        _show(_Code(f"Solution to {self.name}:", self.reference_code()))

    def run_solution(self, namespace: dict) -> dict:
        """Run the reference solution in a copy of `namespace`; returns that copy (for expected values)."""
        scope = dict(namespace)
        exec(compile(self.reference_code(), f"<solution of {self.name}>", "exec"), scope)
        return scope


@dataclass
class _Note:
    text: str

    def __repr__(self) -> str:
        return self.text

    def _repr_html_(self) -> str:
        return f'<div style="border-left:4px solid #0969da;padding:2px 8px">{html.escape(self.text)}</div>'


@dataclass
class _Code:
    title: str
    code: str

    def __repr__(self) -> str:
        return f"{self.title}\n{self.code}"

    def _repr_html_(self) -> str:
        return f"<div><b>{html.escape(self.title)}</b><pre>{html.escape(self.code)}</pre></div>"


class Progress:
    """The questions of one exercise notebook and where the learner stands on each."""

    def __init__(self, lesson: str, questions: list[Question]):
        self.lesson, self.questions = lesson, questions

    def table(self) -> list[tuple[str, str, str]]:
        return [(q.name, q.title, type(q).status) for q in self.questions]

    def __repr__(self) -> str:
        rows = self.table()
        done = sum(status == CORRECT for _, _, status in rows)
        lines = [f"{self.lesson}: {done} of {len(rows)} exercises solved"]
        lines += [f"  {name:<4} {status:<14} {title}" for name, title, status in rows]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        rows = self.table()
        done = sum(status == CORRECT for _, _, status in rows)
        cells = "".join(f"<tr><td>{n}</td><td>{html.escape(t)}</td><td>{s}</td></tr>" for n, t, s in rows)
        return (f"<b>{html.escape(self.lesson)}: {done} of {len(rows)} exercises solved</b>"
                f"<table><tr><th>question</th><th>what</th><th>status</th></tr>{cells}</table>")


def bind(module_globals: dict, lesson: str, question_classes: list[type[Question]]) -> Progress:
    """Create q1, q2, … in an exercise module from its question classes; returns its Progress."""
    questions = []
    for number, cls in enumerate(question_classes, start=1):
        cls.name = f"q{number}"
        cls.status = NOT_ATTEMPTED
        question = cls()
        module_globals[cls.name] = question
        questions.append(question)
    progress = Progress(lesson, questions)
    module_globals["progress"] = progress
    module_globals["____"] = ____
    module_globals["__all__"] = ["____", "progress", *(q.name for q in questions)]
    return progress
