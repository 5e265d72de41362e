"""The LoRA trainer: supervised fine-tuning of the bundled model on a CPU. Taught in 03_fine_tuning.

    result = train_lora("train.jsonl", validation, TrainConfig(steps=180))  # refuses a file with bad lines

Why a small loop of our own rather than transformers' `Trainer`: on a CPU, the model's output layer (its whole
vocabulary) costs more than the decoder body, and `Trainer` computes it at every position of every sequence. Here:
- the output layer runs only on the answer positions, the only ones the loss reads;
- LoRA adapts the top `lora_layers` decoder layers; the frozen layers below run once per example, and their
  output is replayed every epoch (exact);
- the training softmax covers the tokens of the data plus `output_sample` random tokens standing for the rest of
  the vocabulary (sampled softmax, Jean et al. 2015); validation loss is always computed exactly.
The lesson measures what each choice saves.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ..config import load_settings
from ..runtime.weights import load_training_model
from .tokens import split_example
from .validation import MAX_EXAMPLE_TOKENS, load_training_examples

ALL_LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")  # every linear layer


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters of one LoRA run. Taught in 03_fine_tuning."""

    steps: int = 40  # optimizer steps; each reads batch_size examples
    batch_size: int = 8  # examples per step
    learning_rate: float = 1e-3  # peak AdamW learning rate (LoRA takes far higher rates than full fine-tuning)
    warmup_steps: int = 4  # steps of linear warm-up before the cosine decay to zero
    rank: int = 16  # LoRA rank r: each adapted matrix learns a rank-r update
    alpha: int = 32  # LoRA scale: the update is multiplied by alpha / rank
    dropout: float = 0.0  # LoRA dropout (short runs do not overfit enough to need it)
    target_modules: tuple[str, ...] = ALL_LINEAR  # which linear layers get an adapter
    lora_layers: int = 6  # adapt only the top N of the 18 decoder layers (0: all); the frozen rest runs once
    output_sample: int = 4096  # training softmax over the data's tokens + N random ones (0: all 262,144, exact)
    eval_every: int = 10  # steps between validation measurements (0: only at the end)
    eval_examples: int = 16  # validation examples measured each time (the loss is a forward pass, not generation)
    max_example_tokens: int = MAX_EXAMPLE_TOKENS  # longer examples are refused (prompts with passages need more)
    seed: int = 0  # adapter initialisation and batch order
    precision: str = "auto"  # fp32 | bf16 (autocast; fast only where the CPU has bf16 units) | auto

    def resolved_precision(self) -> str:
        if self.precision != "auto":
            return self.precision
        import torch

        return "bf16" if torch.ops.mkldnn._is_mkldnn_bf16_supported() else "fp32"


LESSON_CONFIG = TrainConfig(steps=130, learning_rate=2e-3, eval_every=13)  # 03_fine_tuning: about half a pass over
# the 2,035 training pairs; the validation loss measured 10 times (about a second each) so the curve shows its shape


@dataclass
class TrainResult:
    """A finished run: the model with its adapter, the loss history and the speed."""

    model: object  # the peft model (base + LoRA adapter), or None when loaded from the cache
    config: TrainConfig
    history: list[dict]  # one row per step: step, train_loss, and val_loss / val_token_accuracy where measured
    seconds: float  # wall time of the training loop
    tokens: int  # tokens read (prompt and answer)
    answer_tokens: int  # tokens the loss was computed on
    examples: int  # training examples available
    adapter_dir: Path | None = None  # where the adapter is saved, once saved

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds if self.seconds else 0.0

    @property
    def final_val_loss(self) -> float | None:
        measured = [h["val_loss"] for h in self.history if h.get("val_loss") is not None]
        return measured[-1] if measured else None

    @property
    def final_val_token_accuracy(self) -> float | None:
        measured = [h["val_token_accuracy"] for h in self.history if h.get("val_token_accuracy") is not None]
        return measured[-1] if measured else None

    def __repr__(self) -> str:
        return (f"TrainResult({self.config.steps} steps × {self.config.batch_size} examples in {self.seconds:.0f} s, "
                f"{self.tokens_per_s:.0f} tokens/s, final validation loss {self.final_val_loss}, "
                f"adapter_dir={str(self.adapter_dir) if self.adapter_dir else None})")


def encode_example(example: dict, tokenizer) -> tuple[list[int], list[int]]:
    """(prompt ids, answer ids): the prompt with its start token, the answer followed by the end-of-text token."""
    prompt, answer = split_example(example)
    prompt_ids = tokenizer(prompt, add_special_tokens=True).input_ids
    answer_ids = tokenizer(answer, add_special_tokens=False).input_ids + [tokenizer.eos_token_id]
    return prompt_ids, answer_ids


def make_batch(encoded: list[tuple[list[int], list[int]]], pad_id: int):
    """Right-padded input ids, attention mask and labels; labels are -100 (ignored) except on answer tokens."""
    width = max(len(p) + len(a) for p, a in encoded)
    ids = torch.full((len(encoded), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(encoded), width), dtype=torch.long)
    labels = torch.full((len(encoded), width), -100, dtype=torch.long)
    for row, (p, a) in enumerate(encoded):
        n = len(p) + len(a)
        ids[row, :n] = torch.tensor(p + a)
        mask[row, :n] = 1
        labels[row, len(p):n] = torch.tensor(a)
    return ids, mask, labels


class _Replay(torch.nn.Module):
    """Stands in for a frozen bottom layer: the first returns the saved hidden states, the others pass them on."""

    def __init__(self, hidden=None):
        super().__init__()
        self.hidden = hidden

    def forward(self, hidden_states, *args, **kwargs):
        return hidden_states if self.hidden is None else self.hidden


class _Stop(Exception):
    pass


def _sampled_logits(hidden, weight, wanted, tokens, n: int, generator):
    """Logits over `tokens` plus `n` uniformly drawn tokens, the drawn ones raised by log(vocabulary / n) so that
    together they stand for the whole rest of the vocabulary; `wanted` re-indexed into that list."""
    vocabulary = weight.shape[0]
    drawn = torch.randint(vocabulary, (n,), generator=generator)
    candidates = torch.cat([tokens, drawn])
    logits = hidden @ weight[candidates].T
    correction = torch.zeros(len(candidates), dtype=logits.dtype)
    correction[len(tokens):] = math.log(vocabulary / n)
    position = torch.searchsorted(tokens, wanted)  # `tokens` is sorted and holds every wanted token
    return logits + correction, position


def frozen_bottom_states(model, first: int, input_ids, attention_mask):
    """The hidden states entering decoder layer `first`: what the frozen layers below it compute (no gradient)."""

    body = (model.get_base_model() if hasattr(model, "get_base_model") else model).model
    captured = {}

    def grab(module, args, kwargs):
        captured["hidden"] = args[0] if args else kwargs["hidden_states"]
        raise _Stop  # the layers above are not needed now

    handle = body.layers[first].register_forward_pre_hook(grab, with_kwargs=True)
    try:
        with torch.no_grad():
            body(input_ids=input_ids, attention_mask=attention_mask)
    except _Stop:
        pass
    finally:
        handle.remove()
    return captured["hidden"]


def answer_loss(model, input_ids, attention_mask, labels, bf16: bool = False, start: tuple | None = None,
                sample: tuple | None = None):
    """Mean cross-entropy on the answer tokens, and how many of them the model predicts right (greedy).

    The key to CPU speed: the decoder body runs on every position, but the 262k-token output layer only on the
    positions whose next token is an answer token. With `start=(layer, hidden)`, the frozen layers below `layer`
    are not run: `hidden` is what they compute (see `frozen_bottom_states`). With `sample=(tokens, n, generator)`
    the softmax runs over `tokens` (every token of the training data) and `n` random others standing for the rest
    of the vocabulary (sampled softmax). Returns (loss tensor, answer tokens, correct predictions).
    """
    causal_lm = model.get_base_model() if hasattr(model, "get_base_model") else model
    body = causal_lm.model
    saved = None
    if start is not None and start[0] > 0:
        first, hidden = start
        saved = list(body.layers[:first])
        for i in range(first):
            body.layers[i] = _Replay(hidden if i == 0 else None)
    try:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = body(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            targets = labels[:, 1:]
            keep = targets != -100  # position t predicts token t+1: keep positions whose next token is an answer
            wanted = targets[keep]
            if sample is None:
                logits = causal_lm.lm_head(out[:, :-1][keep])
            else:
                logits, wanted = _sampled_logits(out[:, :-1][keep], causal_lm.lm_head.weight, wanted, *sample)
    finally:
        if saved is not None:
            for i, layer in enumerate(saved):
                body.layers[i] = layer
    logits = logits.float()
    loss = torch.nn.functional.cross_entropy(logits, wanted)
    correct = int((logits.argmax(-1) == wanted).sum())
    return loss, int(keep.sum()), correct


def _validation_scores(model, encoded, pad_id: int, bf16: bool, first: int = 0,
                       batch_size: int = 8) -> tuple[float, float]:
    """Loss and next-token accuracy on validation answers: exact (the whole output layer), no gradient."""
    total_loss = total_tokens = total_correct = 0
    model.eval()
    with torch.no_grad():
        for i in range(0, len(encoded), batch_size):
            rows = list(range(i, min(i + batch_size, len(encoded))))
            ids, mask, labels = make_batch([encoded[r] for r in rows], pad_id)
            start = (first, _pad_states(_bottom_states(model, first, encoded, rows, pad_id), ids.shape[1])) \
                if first else None
            loss, n, correct = answer_loss(model, ids, mask, labels, bf16=bf16, start=start)
            total_loss += float(loss) * n
            total_tokens += n
            total_correct += correct
    model.train()
    return total_loss / total_tokens, total_correct / total_tokens


def batch_order(encoded: list, batch_size: int, steps: int, seed: int = 0) -> list[list[int]]:
    """Which examples each step reads: shuffled passes over the data (epochs); within a pass, examples of similar
    length share a batch, so little of each batch is padding (padding costs as much compute as text)."""
    rng = random.Random(seed)
    batches: list[list[int]] = []
    while len(batches) < steps:
        order = list(range(len(encoded)))
        rng.shuffle(order)
        epoch = []
        for start in range(0, len(order), batch_size * 8):  # sort windows of 8 batches by length
            window = sorted(order[start:start + batch_size * 8], key=lambda i: len(encoded[i][0]) + len(encoded[i][1]))
            epoch += [window[k:k + batch_size] for k in range(0, len(window), batch_size)]
        rng.shuffle(epoch)
        batches += [b for b in epoch if len(b) == batch_size] or epoch  # drop a short last batch unless it is all
    return batches[:steps]


_BOTTOM: dict[tuple, torch.Tensor] = {}  # (first adapted layer, dtype, token ids) -> hidden states entering it
BOTTOM_LIMIT = 6000  # cached examples kept in memory (about 150 MB); runs in one process share them


def _bottom_states(model, first: int, encoded: list, wanted: list[int], pad_id: int, batch_size: int = 16) -> list:
    """The hidden states the frozen layers below `first` compute for the examples `wanted` (indices into
    `encoded`): computed the first time an example is used, then reused by every later epoch and run."""
    dtype = str(next(model.parameters()).dtype)
    keys = [(first, dtype, tuple(encoded[i][0] + encoded[i][1])) for i in wanted]
    missing = sorted({i for i, k in zip(wanted, keys, strict=True) if k not in _BOTTOM},
                     key=lambda i: len(encoded[i][0]) + len(encoded[i][1]))
    for k in range(0, len(missing), batch_size):
        chunk = missing[k:k + batch_size]
        ids, mask, _ = make_batch([encoded[i] for i in chunk], pad_id)
        hidden = frozen_bottom_states(model, first, ids, mask)
        for row, i in enumerate(chunk):
            _BOTTOM[(first, dtype, tuple(encoded[i][0] + encoded[i][1]))] = hidden[row, :int(mask[row].sum())].clone()
    states = [_BOTTOM[k] for k in keys]
    while len(_BOTTOM) > BOTTOM_LIMIT:  # forget the oldest
        _BOTTOM.pop(next(iter(_BOTTOM)))
    return states


def _pad_states(states: list, width: int):
    out = torch.zeros(len(states), width, states[0].shape[-1], dtype=states[0].dtype)
    for row, h in enumerate(states):
        out[row, :h.shape[0]] = h
    return out


def learning_rate_at(step: int, config: TrainConfig) -> float:
    """Linear warm-up, then cosine decay to zero at the last step."""
    if step < config.warmup_steps:
        return config.learning_rate * (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
    return config.learning_rate * 0.5 * (1 + math.cos(math.pi * progress))


def train_lora(train, validation: list[dict], config: TrainConfig = TrainConfig(), monitor=None,
               holdout: list[dict] = (), allow_bad_lines: bool = False, progress: bool = True,
               stop_after: int = 0) -> TrainResult:
    """Train a LoRA adapter on the bundled Gemma 3 270M, on the CPU. Taught in 03_fine_tuning.

    `train` is a JSONL path or a list of chat examples; it is validated first and refused if a line is bad (unless
    `allow_bad_lines=True`, which skips bad lines). `monitor` (e.g. widgets.TrainingMonitor) is told the losses as
    they come; without one, a tqdm bar shows progress. Nothing is saved: call `save_adapter` with the result.
    `stop_after=N` runs only the first N steps of the configured run (same batches and learning rates), to check a
    recorded run's beginning (tests/test_finetune_training.py does this for `train-longer`'s adapter).
    """
    from peft import LoraConfig, get_peft_model


    if config.steps < 1 or config.batch_size < 1:
        raise ValueError("steps and batch_size must be at least 1.")
    examples = load_training_examples(train, holdout=holdout, allow_bad_lines=allow_bad_lines,
                                      max_tokens=config.max_example_tokens)
    base, tokenizer = load_training_model(load_settings().cache_dir)
    bf16 = config.resolved_precision() == "bf16"
    if not bf16:
        base = base.float()  # without native bf16 units, fp32 runs several times faster on a CPU
    torch.manual_seed(config.seed)
    n_layers = base.config.num_hidden_layers
    first = n_layers - config.lora_layers if 0 < config.lora_layers < n_layers else 0  # lowest adapted layer
    lora = LoraConfig(r=config.rank, lora_alpha=config.alpha, lora_dropout=config.dropout,
                      target_modules=list(config.target_modules), task_type="CAUSAL_LM",
                      layers_to_transform=list(range(first, n_layers)) if first else None,
                      layers_pattern="layers" if first else None)
    model = get_peft_model(base, lora)
    model.train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=config.learning_rate, weight_decay=0.0)

    encoded = [encode_example(e, tokenizer) for e in examples]
    val_encoded = [encode_example(e, tokenizer) for e in validation[:config.eval_examples]]
    pad_id = tokenizer.pad_token_id
    batches = batch_order(encoded, config.batch_size, config.steps, config.seed)
    if stop_after:
        batches = batches[:stop_after]
    if monitor is not None:
        monitor.start(len(batches))
    started = time.perf_counter()  # the frozen layers' one pass counts as training time
    sample = None
    if config.output_sample:
        data_tokens = torch.tensor(sorted({t for p, a in encoded for t in p + a}))  # every token the data uses
        sample = (data_tokens, config.output_sample, torch.Generator().manual_seed(config.seed))
    history: list[dict] = []
    tokens = answer_tokens = 0
    bar = None
    if monitor is None and progress:
        bar = tqdm(total=len(batches), desc="LoRA training", leave=False)
    for step, batch_ids in enumerate(batches):
        input_ids, mask, labels = make_batch([encoded[i] for i in batch_ids], pad_id)
        for group in optimizer.param_groups:
            group["lr"] = learning_rate_at(step, config)
        start = None
        if first:  # the frozen layers' output, computed on first use of each example
            start = (first, _pad_states(_bottom_states(model, first, encoded, batch_ids, pad_id), input_ids.shape[1]))
        loss, n_answer, _ = answer_loss(model, input_ids, mask, labels, bf16=bf16, start=start, sample=sample)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        tokens += int(mask.sum())
        answer_tokens += n_answer
        row = {"step": step + 1, "train_loss": float(loss.detach()), "seconds": time.perf_counter() - started,
               "tokens": tokens}
        last = step + 1 == len(batches)
        if val_encoded and (last or (config.eval_every and (step + 1) % config.eval_every == 0)):
            row["val_loss"], row["val_token_accuracy"] = _validation_scores(model, val_encoded, pad_id, bf16, first)
        history.append(row)
        if monitor is not None:
            monitor.update(**row)
        if bar is not None:
            bar.set_postfix(loss=f"{row['train_loss']:.3f}")
            bar.update(1)
    seconds = time.perf_counter() - started
    if bar is not None:
        bar.close()
    if monitor is not None:
        monitor.finish()
    model.eval()
    return TrainResult(model, config, history, seconds, tokens, answer_tokens, len(examples))
