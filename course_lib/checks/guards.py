"""What keeps a check honest: the course's own functions swapped out while the learner's code runs, prompts built
blind (the learner's function never sees which item is scored), and copies of scored items found in any turn.
Taught in 00_setup (what a check proves)."""

from __future__ import annotations

import re
import threading
from contextlib import contextmanager

ITEM = "\u27e6the ITEM\u27e7"  # what a prompt function gets instead of the item: mixed case, so any change shows
COPY_RUN = 6  # a prompt holding 6 consecutive words of a scored or held-out text holds a copy of it (the pool and
# the dev/test reviews share at most 4 in a row, two dev/test reviews at most 5)
COPY_TRIGRAMS = 0.4  # ...and so does one holding 40% of a text's three-word sequences, a reworded copy (a pool
# review shares at most 12.5% with any dev or test review)


class ReferenceUsed(BaseException):  # not an Exception: a learner's `except Exception` cannot swallow it
    """Raised when the learner's code calls a course function that the exercise asks them to write."""


_tripped: list[str] = []
_lock = threading.RLock()  # a check may call learner code that a check runs again


def tripped(name: str) -> None:
    """Called instead of a swapped-out course function: record it and stop the learner's code."""
    _tripped.append(name)
    raise ReferenceUsed(name)


def _trap_code(name: str):
    scope: dict = {}
    exec(f"def trap(*args, **kwargs):\n    from course_lib.checks import guards\n    guards.tripped({name!r})\n",
         scope)
    return scope["trap"].__code__


def reference_name(function) -> str:
    return f"{function.__module__}.{function.__qualname__}"


@contextmanager
def swapped_out(references):
    """While inside, every call of a function in `references` (however it was reached: by name, alias, closure
    or another course function) raises ReferenceUsed; yields the list of names that were called."""
    saved = []
    with _lock:
        _tripped.clear()
        try:
            for function in references:
                code = getattr(function, "__code__", None)
                if code is not None and not code.co_freevars:
                    saved.append((function, code))
                    function.__code__ = _trap_code(reference_name(function))
            yield _tripped
        finally:
            for function, code in saved:
                function.__code__ = code


def is_reference(function, references) -> bool:
    """The learner's function is one of the course's (or a partial or wrapper of it)."""
    seen = function
    for _ in range(5):
        if any(seen is r for r in references):
            return True
        seen = getattr(seen, "func", None) or getattr(seen, "__wrapped__", None)
        if seen is None:
            return False
    return False


# -- prompts built blind ----------------------------------------------------------------------------------------

def holds_item(messages) -> str:
    """'' when `messages` (chat messages or a string) holds ITEM exactly once, in the last user turn; else why not."""
    if isinstance(messages, str):
        messages = [{"role": "user", "content": messages}]
    texts = [m["content"] for m in messages]
    count = sum(t.count(ITEM) for t in texts)
    if count == 0:
        return ("the item it is given is not in the messages, word for word: put the text it receives into the "
                "last user message as it is")
    if count > 1 or ITEM not in texts[-1] or messages[-1].get("role") != "user":
        return "the item it is given must appear once, in the last user message, and nowhere else"
    return ""


def fill(messages, text: str):
    """The blind messages with the scored item's text put where ITEM stands."""
    if isinstance(messages, str):
        return messages.replace(ITEM, text)
    return [dict(m, content=m["content"].replace(ITEM, text)) for m in messages]


def text_of(messages) -> str:
    return messages if isinstance(messages, str) else "\n".join(m["content"] for m in messages)


# -- copies of scored or held-out items -------------------------------------------------------------------------

def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def _grams(words: list[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


def copied(prompt_text: str, items: list[dict], key: str = "text", run: int = COPY_RUN,
           share: float = COPY_TRIGRAMS) -> list[dict]:
    """The items that `prompt_text` holds a copy of, whole, trimmed or lightly reworded: `run` words in a row of
    the item (0: not this test), or `share` of its three-word sequences."""
    words = _words(prompt_text.replace(ITEM, " | "))
    runs, trigrams = _grams(words, run) if run else set(), _grams(words, 3)
    found = []
    for item in items:
        own = _words(item[key])
        shared = _grams(own, 3) & trigrams
        if (run and _grams(own, min(run, len(own))) & runs) or (
                len(shared) >= min(3, len(_grams(own, 3))) and len(shared) >= share * len(_grams(own, 3))):
            found.append(item)
    return found
