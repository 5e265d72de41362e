"""Warm-up exercises of 00_setup: a chat completion, token counts, a reusable helper. Checked on any provider."""

from __future__ import annotations

import re

from ..checks import Callable, EqualityCheck, Incorrect, Question, bind
from ..llm import local_engine
from . import configured_client

PROBE_QUESTION = "Name one thing a plant-based dish soap is made from."  # the question of q1
TOKEN_TEXT = "Are eyeglasses covered by my health plan?"  # the text whose tokens q2 counts


class FirstChat(Question):
    """Make your first chat completion with the course's client"""

    variables = ["first"]
    hints = [
        "The course's `client` is an OpenAI client: a chat request is `client.chat.completions.create(...)`, given "
        "the model's name and a list of messages, each a dict with a role and the content.",
        "Send the question as the one user message, to the model named in `MODEL`, with at most 12 new tokens "
        "(`max_tokens`) and `temperature` 0, so the answer is the same every time.",
        "The call returns a ChatCompletion object: assign the whole object to `first`, not only its text: "
        "`first = client.chat.completions.create(model=MODEL, max_tokens=12, temperature=0, "
        "messages=[{\"role\": \"user\", \"content\": ...}])`.",
    ]
    solution_code = """
    first = client.chat.completions.create(
        model=MODEL, max_tokens=12, temperature=0,
        messages=[{"role": "user", "content": "Name one thing a plant-based dish soap is made from."}])
    """

    def verify(self, first):
        from openai.types.chat import ChatCompletion

        if not isinstance(first, ChatCompletion):
            raise Incorrect(f"`first` should be the ChatCompletion object that `client.chat.completions.create` "
                            f"returns; got a {type(first).__name__}.")
        if not first.choices or not (first.choices[0].message.content or "").strip():
            raise Incorrect("The answer is empty. Did you send a user message and a max_tokens above 0?")
        used = first.usage.completion_tokens if first.usage else None
        if used is None or used > 12:
            raise Incorrect(f"Ask for at most 12 new tokens (`max_tokens=12`); this answer used {used}.")
        client, model = configured_client()  # the same question, sent alone, reads as many tokens: it was asked
        asked = client.chat.completions.create(model=model, max_tokens=1, temperature=0, messages=[
            {"role": "user", "content": PROBE_QUESTION}]).usage.prompt_tokens
        if first.usage.prompt_tokens != asked:
            raise Incorrect("This answers another prompt: send the question of this exercise, word for word, as the "
                            "only user message.")


class CountTokens(EqualityCheck):
    """Count the tokens of a question the way the model does"""

    variables = ["n_tokens"]
    advice = ("The model reads a different number of tokens when the text is sent as a user message. Read it from "
              "`usage.prompt_tokens` of a real request.")
    hints = [
        "Don't count words: ask the model. Every response carries a `usage` record of the tokens it read (the "
        "prompt) and wrote (the completion).",
        "Send the text as the only user message with `max_tokens=1` (cheap), then read `usage.prompt_tokens`.",
    ]
    solution_code = """
    response = client.chat.completions.create(
        model=MODEL, max_tokens=1, temperature=0,
        messages=[{"role": "user", "content": "Are eyeglasses covered by my health plan?"}])
    n_tokens = response.usage.prompt_tokens
    """

    def expected(self):
        client, model = configured_client()
        return client.chat.completions.create(model=model, max_tokens=1, temperature=0, messages=[
            {"role": "user", "content": TOKEN_TEXT}]).usage.prompt_tokens

    def near_misses(self, expected):
        return [(len(TOKEN_TEXT.split()), "That is the number of words. Models count tokens, which are often pieces "
                                          "of words: ask the model and read `usage.prompt_tokens`.")]


class AskHelper(Callable):
    """Write `ask(question, max_tokens)`: the text of a greedy chat answer"""

    variables = ["ask"]
    signature = "(question, max_tokens=20) -> the answer's text"
    hints = [
        "Wrap the request of q1 in a function: the question becomes the one user message, `max_tokens` is passed "
        "on, and `temperature=0` makes the answer greedy.",
        "Return only the text of the answer, which sits in the first choice's message.",
        "Inside the function: `response = client.chat.completions.create(model=MODEL, max_tokens=max_tokens, "
        "temperature=0, messages=[{\"role\": \"user\", \"content\": question}])`, then "
        "`return response.choices[0].message.content`.",
    ]
    solution_code = """
    def ask(question, max_tokens=20):
        response = client.chat.completions.create(model=MODEL, max_tokens=max_tokens, temperature=0,
                                                  messages=[{"role": "user", "content": question}])
        return response.choices[0].message.content
    """
    cases = [("What is the capital of France?", 8), ("What is plant-based soap made from?", 12)]

    def verify_function(self, ask):
        client, model = configured_client()
        local = local_engine(client) is not None
        for question, max_tokens in self.cases:
            got = self.call(ask, question, max_tokens)
            if not isinstance(got, str):
                raise Incorrect(f"ask({question!r}, {max_tokens}) returned a {type(got).__name__}; return the "
                                "answer's text.")
            expected = client.chat.completions.create(model=model, max_tokens=max_tokens, temperature=0, messages=[
                {"role": "user", "content": question}]).choices[0].message.content
            if not got.strip():
                raise Incorrect(f"ask({question!r}, {max_tokens}) returned empty text.")
            words, theirs = set(re.findall(r"\w+", got.lower())), set(re.findall(r"\w+", expected.lower()))
            # locally a greedy answer is the same every time; a hosted one may differ a little, not in substance
            if (got != expected) if local else len(words & theirs) < 0.5 * len(words | theirs):
                raise Incorrect(f"ask({question!r}, {max_tokens}) does not give the greedy answer to that "
                                "question. Send the question alone, use temperature=0 and pass max_tokens on.")


bind(globals(), "00_setup", [FirstChat, CountTokens, AskHelper])
