"""The exercise engine: `____` placeholders, `q1.check()`, `q1.hint()`, `q1.solution()`, and the kinds of question
an exercise declares (`FunctionCheck`, `EqualityCheck`, `ChoiceCheck`, `ThresholdCheck`, `PromptCheck`). Taught in
00_setup. `core` shows the verdicts, `kinds` holds the checking code once, `guards` keeps checks honest."""

from .core import (
                   CORRECT,
                   INCORRECT,
                   NOT_ATTEMPTED,
                   Incorrect,
                   NotAttempted,
                   Progress,
                   Question,
                   Result,
                   ____,
                   bind,
                   is_placeholder,
)
from .guards import ITEM, ReferenceUsed
from .kinds import (
                   Callable,
                   ChoiceCheck,
                   EqualityCheck,
                   FunctionCheck,
                   Measure,
                   PromptCheck,
                   ThresholdCheck,
                   fresh_rng,
                   is_number,
)

__all__ = ["CORRECT", "INCORRECT", "NOT_ATTEMPTED", "Incorrect", "NotAttempted", "Progress", "Question", "Result",
           "____", "bind", "is_placeholder", "ITEM", "ReferenceUsed", "Callable", "ChoiceCheck", "EqualityCheck",
           "FunctionCheck", "Measure", "PromptCheck", "ThresholdCheck", "fresh_rng", "is_number"]
