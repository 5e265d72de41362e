"""Grounded answers: retrieve passages, put them in the chat messages, answer with citations or say "I don't know".
Taught in 02_rag.

    answerer = RagAnswerer(client, settings.chat_model, retriever)
    result = answerer.answer("Are eyeglasses covered?")
    result.text, result.cited_chunks, result.prompt      # prompt: the chat messages that were sent

The bundled model is a *base* model: it continues text rather than following instructions, so the messages show
two worked examples as user/assistant turns (one answered with a citation, one refused) before the real question.
Larger chat models follow the same messages too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .chunking import Chunk
from .llm import chat_many
from .retrieval import Hit, Retriever

REFUSAL = "I don't know."
NO_ANSWER_REFERENCE = "The documents do not say."
CITATION = re.compile(r"\[(\d+)\]")

INSTRUCTIONS = ("Answer each employee question using only the numbered passages in the same message. End the answer "
                "with the number of the passage it came from, in brackets. If the passages do not contain the "
                f"answer, write exactly: {REFUSAL}")

# Worked examples written for the prompt (not taken from the knowledge base, so they never leak an answer).
EXAMPLES = [
    {"passages": ["Commuter benefits\nYou can set aside up to $325 a month before tax for transit passes and "
                  "$325 a month for work parking.",
                  "Gym discount\nMembers get 20% off at partner gyms after showing their employee badge."],
     "question": "How much can I put aside each month for my bus pass?",
     "answer": "Up to $325 a month, before tax. [1]"},
    {"passages": ["Company holidays\nThe office is closed on eleven paid holidays each year.",
                  "Laptop policy\nA replacement laptop is issued every four years."],
     "question": "Does the company pay for my dog's vet bills?",
     "answer": REFUSAL},
]

CLOSED_BOOK_INSTRUCTIONS = ("Answer each employee benefits question. If you do not know the answer, write exactly: "
                            f"{REFUSAL}")

# The closed-book baseline's worked examples: two answered, one refused, so "I don't know" is as open to it as it
# is to the grounded prompt.
CLOSED_BOOK_EXAMPLES = [
    ("How many days of paid vacation do new employees get?", "New employees get 15 days of paid vacation."),
    ("Does the company pay for my dog's vet bills?", REFUSAL),
    ("What is the copay for an urgent care visit?", "The copay for an urgent care visit is $50."),
]


def format_passages(passages: list[str]) -> str:
    """Numbered passages, each between <passage> markers so its text cannot be mistaken for instructions."""
    return "\n".join(f'<passage id="{n}">\n{text.strip()}\n</passage>' for n, text in enumerate(passages, start=1))


def grounded_user_turn(passages: list[str], question: str) -> str:
    """One user turn of the grounded prompt: the numbered passages, then the question."""
    return f"{format_passages(passages)}\n\nQuestion: {question}"


def grounded_prompt(question: str, hits: list[Hit] | list[str], examples: list[dict] = EXAMPLES) -> list[dict]:
    """The chat messages sent to the model: instructions (system), each worked example as a user turn (passages
    and question) with its cited answer as the assistant turn, then the retrieved passages and the question."""
    passages = [h.chunk.text if isinstance(h, Hit) else str(h) for h in hits]
    messages = [{"role": "system", "content": INSTRUCTIONS}]
    for e in examples:
        messages += [{"role": "user", "content": grounded_user_turn(e["passages"], e["question"])},
                     {"role": "assistant", "content": e["answer"]}]
    messages.append({"role": "user", "content": grounded_user_turn(passages, question)})
    return messages


def closed_book_prompt(question: str, examples: list[tuple[str, str]] = CLOSED_BOOK_EXAMPLES) -> list[dict]:
    """The same question with no passages, as chat messages: what the model says from its own weights alone."""
    messages = [{"role": "system", "content": CLOSED_BOOK_INSTRUCTIONS}]
    for q, a in examples:
        messages += [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
    messages.append({"role": "user", "content": question})
    return messages


def show_messages(messages: list[dict]) -> str:
    """Chat messages as readable text, one block per message headed by its role (for printing in a notebook)."""
    return "\n\n".join(f"[{m['role']}]\n{m['content'].strip()}" for m in messages)


@dataclass
class RagAnswer:
    question: str
    text: str
    prompt: list[dict]  # the chat messages that were sent (see `show_messages`)
    hits: list[Hit] = field(default_factory=list)
    seconds: float = 0.0  # this request's own time, from sending to the answer (`chat_many`'s latency_s)
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def refused(self) -> bool:
        return is_refusal(self.text)

    @property
    def citations(self) -> list[int]:
        """Passage numbers cited in the answer, in order, without repeats."""
        return list(dict.fromkeys(int(n) for n in CITATION.findall(self.text)))

    @property
    def cited_chunks(self) -> list[Chunk]:
        return [self.hits[n - 1].chunk for n in self.citations if 1 <= n <= len(self.hits)]

    @property
    def citations_valid(self) -> bool:
        """Every cited number points at a passage that was actually in the prompt."""
        return all(1 <= n <= len(self.hits) for n in self.citations)


def clean_answer(text: str) -> str:
    """The first line of an answer: a base model may keep writing after it (a new question, another turn)."""
    return text.strip().split("\n")[0].strip()


class RagAnswerer:
    """Retrieve, build the grounded messages, ask the model: one object to reuse across questions."""

    def __init__(self, client, model: str, retriever: Retriever, k: int = 3, max_tokens: int = 48,
                 where=None, examples: list[dict] = EXAMPLES):
        self.client, self.model, self.retriever = client, model, retriever
        self.k, self.max_tokens, self.where, self.examples = k, max_tokens, where, examples

    def retrieve(self, question: str) -> list[Hit]:
        where = self.where(question) if callable(self.where) else self.where
        return self.retriever.search(question, k=self.k, where=where)

    def answer_many(self, questions: list[str]) -> list[RagAnswer]:
        """Answer a list of questions: one chat request each, many in flight at once (`llm.chat_many`)."""
        hits = [self.retrieve(q) for q in questions]
        prompts = [grounded_prompt(q, h, self.examples) for q, h in zip(questions, hits, strict=True)]
        # Nothing retrieved (say, a filter for a plan year the documents don't cover): refuse without asking.
        ask = [i for i, h in enumerate(hits) if h]
        results = chat_many(self.client, self.model, [prompts[i] for i in ask], max_tokens=self.max_tokens,
                            temperature=0.0, stop=["\n"], desc=f"grounded answers ({self.model})") if ask else []
        answers = [RagAnswer(q, REFUSAL, p, h) for q, p, h in zip(questions, prompts, hits, strict=True)]
        for i, r in zip(ask, results, strict=True):
            answers[i].text, answers[i].seconds = clean_answer(r.text), r.latency_s
            answers[i].prompt_tokens, answers[i].completion_tokens = r.prompt_tokens, r.completion_tokens
        return answers

    def answer(self, question: str) -> RagAnswer:
        return self.answer_many([question])[0]


def grounded_examples(items: list[dict], answerer: RagAnswerer) -> list[dict]:
    """Training examples for a model fine-tuned to answer from passages (lesson 04): each question's passages as
    `answerer` retrieves them, in the grounded messages without worked examples, answered with the reference
    answer and the number of the first passage holding its section; a question the documents do not answer is
    answered with the refusal. The model learns to read, cite and refuse, on the passages it will really be given.

    An answerable question whose section the retriever missed is left out: the passages may still hold the answer
    in another section (the FAQ repeats many facts), so neither its answer nor a refusal would be a safe label."""
    examples = []
    for item in items:
        hits = answerer.retrieve(item["question"])
        wanted = set(item["passages"])
        found = [n for n, h in enumerate(hits, start=1) if wanted & set(h.chunk.passages)]
        if wanted and not found:
            continue
        answer = f"{item['answer'].strip()} [{found[0]}]" if found else REFUSAL
        messages = grounded_prompt(item["question"], hits, examples=())
        examples.append({"messages": messages + [{"role": "assistant", "content": answer}], "id": item["id"]})
    return examples


# -- scoring -------------------------------------------------------------------------------------------------
NUMBER_WORDS = {"one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7",
                "eight": "8", "nine": "9", "ten": "10", "eleven": "11", "twelve": "12", "fifteen": "15",
                "twenty": "20", "thirty": "30", "sixty": "60", "ninety": "90"}
FACT = re.compile(r"\$?\d[\d,]*(?:\.\d+)?%?")
REFUSAL_MARKERS = ("i don't know", "i do not know", "do not say", "don't say", "not in the passages",
                   "no information")


def is_refusal(text: str) -> bool:
    lowered = text.lower().replace("’", "'")
    return any(marker in lowered for marker in REFUSAL_MARKERS)


def key_facts(reference: str) -> list[str]:
    """The numbers in a reference answer ($ amounts, percentages, counts; 'six' counts as 6), normalised."""
    text = reference.lower()
    for word, digit in NUMBER_WORDS.items():
        text = re.sub(rf"\b{word}\b", digit, text)
    facts = [f.replace(",", "").replace("$", "").rstrip(".") for f in FACT.findall(text)]
    return list(dict.fromkeys(f for f in facts if f))


STOPWORDS = set("""a an and are as at be by can do does for from has have how i if in is it its my of on or per
the their then there this to up what when which who will with you your yes each after before not only also""".split())


def unsupported_numbers(answer: str, passages: list[str]) -> list[str]:
    """Numbers the answer states that appear in none of the passages: a cheap, strict fabrication signal."""
    found = set(key_facts(" ".join(passages)))
    return [f for f in key_facts(answer) if f not in found]


def _content_words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z][a-z'-]+", text.lower()) if w not in STOPWORDS and len(w) > 2}


def yes_or_no(text: str) -> str | None:
    """"yes" or "no" when the text opens with one ("No, orthodontia is for children" -> "no"), else None."""
    first = re.match(r"\W*(\w+)", text.lower())
    return first.group(1) if first and first.group(1) in ("yes", "no") else None


def score_answer(answer: str, reference: str) -> float:
    """How well an answer matches a reference answer, from 0 to 1.

    - The reference says the documents don't answer: 1 for a refusal, 0 for anything else.
    - Otherwise a refusal scores 0, and so does an answer that opens with the opposite of the reference's "Yes" or
      "No". When the reference has numbers, the score is the share of them the answer states; without numbers it
      is the share of the reference's content words the answer uses.
    """
    if reference.strip() == NO_ANSWER_REFERENCE:
        return 1.0 if is_refusal(answer) else 0.0
    if is_refusal(answer):
        return 0.0
    expected, given = yes_or_no(reference), yes_or_no(answer)
    if expected and given and expected != given:
        return 0.0
    facts = key_facts(reference)
    if facts:
        found = set(key_facts(answer))
        return sum(f in found for f in facts) / len(facts)
    words = _content_words(reference)
    return len(words & _content_words(answer)) / len(words) if words else 0.0
