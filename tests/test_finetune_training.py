"""Lesson 03's model side, for real on the bundled Gemma 3 270M: a tiny LoRA run, the answer-only loss, atomic
adapter saving, the adapter cache, serving an adapter through the OpenAI client (llama.cpp, as a GGUF LoRA) and the
training monitor. Takes about a minute on 2 CPU cores."""

import json

import pytest
import torch

from course_lib.datasets import DataError, itdb_path, load_sql_pairs
from course_lib.finetune import (
    ALL_LINEAR,
    LONGER_ADAPTER,
    LONGER_CONFIG,
    PROVENANCE,
    TrainConfig,
    answer_loss,
    encode_example,
    load_training_record,
    longer_training_pairs,
    make_batch,
    save_adapter,
    train_lora,
    train_or_reuse,
)
from course_lib.finetune.training import batch_order, frozen_bottom_states
from course_lib.runtime.weights import file_sha256, load_training_model
from course_lib.widgets import TrainingMonitor

TINY = TrainConfig(steps=2, batch_size=2, eval_every=1, eval_examples=2, rank=4, alpha=8, lora_layers=2,
                   output_sample=256)
TRAIN = load_sql_pairs("train")[:8]
VALIDATION = load_sql_pairs("validation")[:2]


@pytest.fixture(scope="module")
def tiny_run():
    return train_lora(TRAIN, VALIDATION, TINY, progress=False)


def test_a_tiny_run_trains_and_records_its_history(tiny_run):
    assert [h["step"] for h in tiny_run.history] == [1, 2]
    assert all(h["val_loss"] > 0 and 0 <= h["val_token_accuracy"] <= 1 for h in tiny_run.history)
    assert tiny_run.tokens > tiny_run.answer_tokens > 0 and tiny_run.tokens_per_s > 0
    lora = [p for n, p in tiny_run.model.named_parameters() if "lora_B" in n]
    assert lora and any(float(p.abs().sum()) > 0 for p in lora), "LoRA B starts at zero; training must move it"


def test_answer_loss_matches_the_full_output_layer(settings):
    """The answer-only loss is the usual causal-LM loss restricted to answer tokens, just cheaper."""
    model, tokenizer = load_training_model(settings.cache_dir)
    model = model.float().eval()
    encoded = [encode_example(e, tokenizer) for e in TRAIN[:2]]
    ids, mask, labels = make_batch(encoded, tokenizer.pad_token_id)
    with torch.no_grad():
        fast, n_tokens, _ = answer_loss(model, ids, mask, labels)
        logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1]
        full = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(),
                                                 labels[:, 1:].reshape(-1), ignore_index=-100)
    assert n_tokens == sum(len(a) for _, a in encoded)
    assert float(fast) == pytest.approx(float(full), rel=1e-4)


def test_replaying_the_frozen_bottom_is_exact_and_the_sampled_softmax_is_close(settings):
    """LoRA on the top layers: the frozen layers' output, computed once, gives the same loss as running them."""
    from peft import LoraConfig, get_peft_model

    base, tokenizer = load_training_model(settings.cache_dir)
    model = get_peft_model(base.float(), LoraConfig(r=4, lora_alpha=8, target_modules=list(ALL_LINEAR),
                                                    layers_to_transform=[16, 17], layers_pattern="layers"))
    encoded = [encode_example(e, tokenizer) for e in TRAIN[:3]]
    ids, mask, labels = make_batch(encoded, tokenizer.pad_token_id)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.02)  # a trained-looking adapter, so the top layers matter
        full, n, _ = answer_loss(model, ids, mask, labels)
        hidden = frozen_bottom_states(model, 16, ids, mask)
        replayed, n2, _ = answer_loss(model, ids, mask, labels, start=(16, hidden))
        vocabulary = torch.tensor(sorted(set(ids[mask.bool()].tolist())))
        sampled, n3, _ = answer_loss(model, ids, mask, labels, start=(16, hidden),
                                     sample=(vocabulary, 8192, torch.Generator().manual_seed(0)))
    assert n == n2 == n3
    assert float(replayed) == pytest.approx(float(full), rel=1e-5)
    assert float(sampled) == pytest.approx(float(full), rel=0.25), "an estimate of the same loss"
    assert type(model.get_base_model().model.layers[0]).__name__ == "Gemma3DecoderLayer", "layers restored"


def test_batches_cover_the_data_and_group_similar_lengths():
    encoded = [([0] * n, [1]) for n in range(40)]
    batches = batch_order(encoded, batch_size=4, steps=10, seed=0)
    assert len(batches) == 10 and sorted(i for b in batches for i in b) == list(range(40))  # one epoch, each once
    spread = sum(max(b) - min(b) for b in batches) / len(batches)
    assert spread < 15, "examples of similar length share a batch"


def test_save_adapter_is_atomic_and_keeps_the_old_one_on_failure(tiny_run, tmp_path, monkeypatch):
    folder = save_adapter(tiny_run, tmp_path / "sql")
    assert (folder / "adapter_config.json").is_file() and (folder / "training.json").is_file()
    assert load_training_record(folder).history == tiny_run.history
    before = (folder / "adapter_model.safetensors").read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(tiny_run.model, "save_pretrained", crash)
    with pytest.raises(OSError):
        save_adapter(tiny_run, folder)
    assert (folder / "adapter_model.safetensors").read_bytes() == before, "the saved adapter survived"


def test_training_refuses_bad_lines_and_keeps_what_was_saved(tmp_path):
    saved = tmp_path / "adapters" / "keep"
    saved.mkdir(parents=True)
    (saved / "adapter_config.json").write_text("{}")
    bad = tmp_path / "train.jsonl"
    bad.write_text("\n".join([json.dumps(TRAIN[0]), "{not json", json.dumps(TRAIN[1])]) + "\n")
    with pytest.raises(DataError, match=r"train.jsonl:2: malformed_json"):
        train_lora(bad, VALIDATION, TINY, progress=False)
    with pytest.raises(DataError, match="allow_bad_lines=True"):
        train_or_reuse("bad", bad, VALIDATION, TINY, cache_dir=tmp_path, progress=False)
    assert (saved / "adapter_config.json").read_text() == "{}"


def test_train_or_reuse_trains_once_then_reuses(tmp_path):
    first = train_or_reuse("tiny", TRAIN, VALIDATION, TINY, cache_dir=tmp_path, progress=False)
    monitor = TrainingMonitor(widgets=False)
    again = train_or_reuse("tiny", TRAIN, VALIDATION, TINY, cache_dir=tmp_path, monitor=monitor)
    assert first.model is not None and again.model is None, "the second call loads the saved run"
    assert again.adapter_dir == first.adapter_dir and again.history == first.history
    assert monitor.rows == first.history and "loaded from the cache" in monitor.title, "the recorded curve is shown"
    retrained = train_or_reuse("tiny", TRAIN, VALIDATION, TINY, cache_dir=tmp_path, progress=False,
                               retrain=True)
    assert retrained.model is not None and retrained.adapter_dir == first.adapter_dir
    other = TrainConfig(**{**TINY.__dict__, "seed": 1})
    assert train_or_reuse("tiny", TRAIN, VALIDATION, other, cache_dir=tmp_path,
                          progress=False).adapter_dir != first.adapter_dir


def test_an_adapter_is_served_under_its_own_name_and_leaves_the_base_model_alone(client, engine, tiny_run, tmp_path):
    def answer(model):
        return client.chat.completions.create(model=model, messages=TRAIN[0]["messages"][:-1], max_tokens=8,
                                              temperature=0)

    # Registering restarts the server with empty caches. Start from empty caches here too: a prompt whose beginning
    # an earlier test left cached can answer slightly differently from a fresh run (runtime/engine.py, the flash
    # attention note).
    engine.close()
    base_before = answer("gemma-3-270m").choices[0].message.content
    folder = save_adapter(tiny_run, tmp_path / "served")
    engine.register_adapter("ft:gemma-3-270m:test", folder)
    assert "ft:gemma-3-270m:test" in [m.id for m in client.models.list()]
    reply = answer("ft:gemma-3-270m:test")
    assert reply.model == "ft:gemma-3-270m:test" and reply.usage.completion_tokens > 0
    assert answer("gemma-3-270m").choices[0].message.content == base_before, "the adapter must apply only by name"


def test_the_longer_adapter_is_what_train_longer_produces():
    """Lesson 03 loads an adapter trained by `python -m course_lib train-longer` (too long to train in the lesson).
    Its records must name today's data files, weights and LONGER_CONFIG, and the run's first steps, trained again
    here, must give the recorded losses: another data order, initialisation, configuration or trainer would not."""
    record = json.loads((LONGER_ADAPTER / PROVENANCE).read_text())
    assert record["command"] == "python -m course_lib train-longer"
    redo = "; run `python -m course_lib train-longer` again and commit its folder"
    for split, digest in record["data"].items():
        assert file_sha256(itdb_path(split)) == digest, f"{split}.jsonl changed since the adapter was trained" + redo
    assert file_sha256(LONGER_ADAPTER / "adapter_model.safetensors") == record["weights"], "not the recorded weights"
    recorded = load_training_record(LONGER_ADAPTER)
    assert recorded.config == LONGER_CONFIG, "LONGER_CONFIG changed" + redo
    assert len(recorded.history) == LONGER_CONFIG.steps
    again = train_lora(longer_training_pairs(), load_sql_pairs("validation"), LONGER_CONFIG,
                       holdout=load_sql_pairs("test"), progress=False, stop_after=4)
    assert [h["step"] for h in again.history] == [1, 2, 3, 4]
    for retrained, original in zip(again.history, recorded.history, strict=False):
        # another CPU (or fp32 where bf16 is missing) moves a loss by well under 3%; another batch by far more
        assert retrained["train_loss"] == pytest.approx(original["train_loss"], rel=0.03), (retrained, original)


def test_training_monitor_plain_text(capsys):
    monitor = TrainingMonitor(widgets=False, print_every=2)
    monitor.start(4)
    for step in range(1, 5):
        monitor.update(step=step, train_loss=2.0 / step, seconds=step * 1.5, tokens=step * 300,
                       **({"val_loss": 1.0} if step % 2 == 0 else {}))
    monitor.finish()
    out = capsys.readouterr().out
    assert "step 2/4" in out and "step 4/4" in out and "tokens/s" in out and "left" in out
    assert "val 1.000" in out
    figure = monitor.figure()
    assert len(figure.axes[0].lines) == 2  # training and validation curves


def test_evaluate_sql_scores_answers_by_execution(client):
    from course_lib.sql import evaluate_sql, prompt_messages

    items = load_sql_pairs("test")[:2]
    result = evaluate_sql(client, "gemma-3-270m", items, lambda item: prompt_messages(item["messages"][-2]["content"]),
                          max_tokens=24, progress=False)
    assert len(result.answers) == 2 and 0 <= result.accuracy <= result.valid_rate <= 1
    assert result.prompt_tokens > 400, "the schema is in the baseline prompt"
    assert set(result.answers[0]) >= {"question", "gold", "sql", "valid", "correct"}
