"""Trained adapters on disk: saved atomically, cached under a hash of what made them, and the longer run that
lesson 03 ships. Taught in 03_fine_tuning.

    folder = save_adapter(result, "adapters/sql")                          # atomic: all or nothing
    local_engine(client).register_adapter("ft:gemma-3-270m:sql", folder)   # now a model name for the client
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from dataclasses import asdict
from importlib.metadata import version
from pathlib import Path

from ..config import load_settings
from ..datasets import DATA, itdb_path, load_sql_pairs
from ..files import replace_folder
from ..runtime import chat_format
from ..runtime.weights import CONVERTED_DIR_NAME, MANIFEST_NAME, file_sha256
from . import tokens, training
from .training import TrainConfig, TrainResult, train_lora
from .validation import load_training_examples

LONGER_CONFIG = TrainConfig(steps=4160, learning_rate=2e-3, eval_every=416)  # the lesson's run with 32 times the
# steps, on train.jsonl and train_more.jsonl (about 5 passes over their 6,846 pairs, an hour on 2 cores):
# `python -m course_lib train-longer`
LONGER_TRAIN_SPLITS = ("train", "train_more")  # what train-longer trains on
LONGER_ADAPTER = DATA / "itdb" / "adapter-longer"  # where that command writes its adapter; lesson 03 loads it


ADAPTERS_DIR = "adapters"  # folder under the cache dir for cached adapters
TRAINING_RECORD = "training.json"  # written into an adapter folder beside the weights: config, history, speed


def save_adapter(result: TrainResult, folder: str | Path) -> Path:
    """Save the LoRA adapter (a few MB) atomically: written to a temporary folder, then moved into place, so a
    crash leaves the previous adapter (if any) intact, never a half-written one. Taught in 03_fine_tuning."""
    folder = Path(folder)
    if result.model is None:
        raise ValueError("This result was loaded from the cache; its adapter is already saved at "
                         f"{result.adapter_dir}.")
    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder.parent, prefix=f".{folder.name}.") as tmp:
        built = Path(tmp) / folder.name
        result.model.save_pretrained(built)
        record = {"config": asdict(result.config), "history": result.history, "seconds": result.seconds,
                  "tokens": result.tokens, "answer_tokens": result.answer_tokens, "examples": result.examples}
        (built / TRAINING_RECORD).write_text(json.dumps(record, indent=1))
        replace_folder(built, folder)  # the previous adapter stays until the new one is in place
    result.adapter_dir = folder
    return folder


def load_training_record(folder: str | Path) -> TrainResult:
    """The TrainResult (without the model) of an adapter saved by `save_adapter`."""
    folder = Path(folder)
    record = json.loads((folder / TRAINING_RECORD).read_text())
    config = dict(record["config"])
    config["target_modules"] = tuple(config["target_modules"])
    return TrainResult(None, TrainConfig(**config), record["history"], record["seconds"], record["tokens"],
                       record["answer_tokens"], record["examples"], folder)


def cache_key(examples: list[dict], config: TrainConfig, validation: list[dict] = ()) -> str:
    """A hash of everything that decides an adapter: the training data, the validation items measured, the
    hyperparameters, the base weights, this trainer's code and the versions of torch, transformers and peft (so a
    changed trainer or library never reuses an old run)."""
    digest = hashlib.sha256()
    digest.update(json.dumps([e["messages"] for e in examples], sort_keys=True).encode())
    digest.update(json.dumps([e["messages"] for e in validation[:config.eval_examples]], sort_keys=True).encode())
    digest.update(json.dumps(asdict(config), sort_keys=True).encode())
    for module in (training, tokens, chat_format):  # the trainer and how it renders an example
        digest.update(Path(module.__file__).read_bytes())
    digest.update(" ".join(version(package) for package in ("torch", "transformers", "peft")).encode())
    manifest = load_settings().cache_dir / CONVERTED_DIR_NAME / MANIFEST_NAME
    if manifest.is_file():
        digest.update(manifest.read_bytes())
    return digest.hexdigest()[:16]


def cached_adapter_dir(name: str, train, validation: list[dict], config: TrainConfig,
                       cache_dir: str | Path | None = None) -> Path:
    """Where `train_or_reuse` keeps the adapter of this data and configuration: `<cache>/adapters/<name>-<hash>`.
    Lesson 03 saves its run there, so that lesson 04 and the exercises reuse it instead of training again."""
    cache_dir = cache_dir if cache_dir is not None else load_settings().cache_dir
    examples = train if isinstance(train, list) else load_training_examples(train)
    return Path(cache_dir) / ADAPTERS_DIR / f"{name}-{cache_key(examples, config, validation)}"


def is_saved_adapter(folder: str | Path) -> bool:
    folder = Path(folder)
    return (folder / TRAINING_RECORD).is_file() and (folder / "adapter_config.json").is_file()


def train_or_reuse(name: str, train, validation: list[dict], config: TrainConfig = TrainConfig(),
                   monitor=None, holdout: list[dict] = (), allow_bad_lines: bool = False,
                   cache_dir: str | Path | None = None, progress: bool = True, retrain: bool = False) -> TrainResult:
    """`train_lora` + `save_adapter` under `cached_adapter_dir(...)`, or the saved adapter when the same data,
    hyperparameters, trainer code and libraries were trained before: a rerun of lesson 03, lesson 04 and the
    exercises reuse the lesson's runs. The loaded result has `model=None` and the recorded history, time and
    speed; a `monitor` shows the recorded curve. `retrain=True` trains again and replaces the saved adapter.
    Taught in 03_fine_tuning."""
    examples = load_training_examples(train, holdout=holdout, allow_bad_lines=allow_bad_lines,
                                      max_tokens=config.max_example_tokens)
    folder = cached_adapter_dir(name, examples, validation, config, cache_dir)
    if is_saved_adapter(folder) and not retrain:
        result = load_training_record(folder)
        if monitor is not None:
            monitor.replay(result.history, config.steps)
        return result
    result = train_lora(examples, validation, config, monitor=monitor, progress=progress)
    save_adapter(result, folder)
    return result


def longer_training_pairs() -> list[dict]:
    """What train-longer trains on: the pairs of LONGER_TRAIN_SPLITS, in order."""
    return [pair for split in LONGER_TRAIN_SPLITS for pair in load_sql_pairs(split)]


PROVENANCE = "provenance.json"  # beside the longer run's adapter: the command, the data files' hashes, the config


def train_longer(folder: str | Path = LONGER_ADAPTER, progress: bool = True) -> TrainResult:
    """`python -m course_lib train-longer`: lesson 03's run with LONGER_CONFIG's steps, on train.jsonl plus the
    composed pairs of train_more.jsonl, saved to `folder` with a provenance record (the command, the SHA-256 of the
    data files and of the weights). Lesson 03 loads the adapter to show what more data and compute buy;
    tests/test_finetune_training.py checks that the record matches today's data and configuration and that the
    first steps retrain to the recorded losses."""
    validation, test = load_sql_pairs("validation"), load_sql_pairs("test")
    result = train_lora(longer_training_pairs(), validation, LONGER_CONFIG, holdout=test, progress=progress)
    folder = save_adapter(result, folder)
    record = {"command": "python -m course_lib train-longer",  # the configuration is in training.json
              "data": {split: file_sha256(itdb_path(split)) for split in (*LONGER_TRAIN_SPLITS, "validation", "test")},
              "weights": file_sha256(folder / "adapter_model.safetensors"),
              "libraries": {package: version(package) for package in ("torch", "transformers", "peft")}}
    (folder / PROVENANCE).write_text(json.dumps(record, indent=1) + "\n")
    (folder / "README.md").unlink(missing_ok=True)  # peft's empty model card
    return result
