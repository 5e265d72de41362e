"""Warm-up exercises of 00_setup: a completion, token counts, a reusable helper. Checked on any provider."""

from __future__ import annotations

from ..checks import Incorrect, Question, bind
from ..llm import local_engine
from . import configured_client

PROBE_PROMPT = "Fernleaf Home makes cleaning products that are"  # the prompt of q1
TOKEN_TEXT = "Are eyeglasses covered by my health plan?"  # the text whose tokens q2 counts


class FirstCompletion(Question):
    """Make your first completion with the course's client"""

    variables = ["first"]
    hints = [
        "Call `client.completions.create(...)` with `model=MODEL`, the prompt, `max_tokens=12` and `temperature=0`.",
        "The call returns a Completion object: assign the whole object to `first`, not only its text.",
    ]
    solution_code = """
    first = client.completions.create(model=MODEL, prompt="Fernleaf Home makes cleaning products that are",
                                      max_tokens=12, temperature=0)
    """

    def verify(self, first):
        from openai.types import Completion

        if not isinstance(first, Completion):
            raise Incorrect(f"`first` should be the Completion object that `client.completions.create` returns; "
                            f"got a {type(first).__name__}.")
        if not first.choices or not first.choices[0].text.strip():
            raise Incorrect("The completion has no text. Did you pass a prompt and a max_tokens above 0?")
        used = first.usage.completion_tokens if first.usage else None
        if used is None or used > 12:
            raise Incorrect(f"Ask for at most 12 new tokens (`max_tokens=12`); this completion used {used}.")


class CountTokens(Question):
    """Count the tokens of a question the way the model does"""

    variables = ["n_tokens"]
    hints = [
        "Every response carries `usage`: `response.usage.prompt_tokens` is the number of tokens in your prompt.",
        "Send the text as the prompt with `max_tokens=1` (cheap), then read `usage.prompt_tokens`.",
    ]
    solution_code = """
    response = client.completions.create(model=MODEL, prompt="Are eyeglasses covered by my health plan?",
                                         max_tokens=1, temperature=0)
    n_tokens = response.usage.prompt_tokens
    """

    def verify(self, n_tokens):
        if not isinstance(n_tokens, int):
            raise Incorrect(f"`n_tokens` should be a whole number; got {n_tokens!r}.")
        client, model = configured_client()
        truth = client.completions.create(model=model, prompt=TOKEN_TEXT, max_tokens=1, temperature=0).usage
        if n_tokens == len(TOKEN_TEXT.split()):
            raise Incorrect("That is the number of words. Models count tokens, which are often pieces of words: "
                            "ask the model and read `usage.prompt_tokens`.")
        if n_tokens != truth.prompt_tokens:
            raise Incorrect(f"The model counts a different number of tokens for {TOKEN_TEXT!r}. "
                            "Read it from `usage.prompt_tokens` of a real request.")


class CompleteHelper(Question):
    """Write `complete(prompt, max_tokens)`: the text of a greedy completion"""

    variables = ["complete"]
    hints = [
        "Inside the function call `client.completions.create(model=MODEL, prompt=prompt, max_tokens=max_tokens, "
        "temperature=0)`.",
        "Return only the text: `response.choices[0].text`.",
    ]
    solution_code = """
    def complete(prompt, max_tokens=20):
        response = client.completions.create(model=MODEL, prompt=prompt, max_tokens=max_tokens, temperature=0)
        return response.choices[0].text
    """
    cases = [("The capital of France is", 5), ("Plant-based soap is made from", 8)]

    def verify(self, complete):
        if not callable(complete):
            raise Incorrect("`complete` should be a function: `def complete(prompt, max_tokens=20): ...`.")
        client, model = configured_client()
        for prompt, max_tokens in self.cases:
            got = self.call(complete, prompt, max_tokens)
            if not isinstance(got, str):
                raise Incorrect(f"complete({prompt!r}, {max_tokens}) returned a {type(got).__name__}; return the "
                                "text, `response.choices[0].text`.")
            expected = client.completions.create(model=model, prompt=prompt, max_tokens=max_tokens,
                                                 temperature=0).choices[0].text
            if local_engine(client) is not None and got != expected:
                raise Incorrect(f"complete({prompt!r}, {max_tokens}) gave {got!r}, but a greedy completion gives "
                                f"{expected!r}. Use temperature=0 and pass max_tokens through.")
            if not got.strip():
                raise Incorrect(f"complete({prompt!r}, {max_tokens}) returned empty text.")


bind(globals(), "00_setup", [FirstCompletion, CountTokens, CompleteHelper])
