"""Supervised fine-tuning on a CPU: check the data, count its tokens and price, train a LoRA adapter, save it,
serve it. Taught in 03_fine_tuning.

    report = validate_training_file("train.jsonl", holdout=test)          # every bad line, as file:line
    result = train_lora("train.jsonl", validation, TrainConfig(steps=180))  # refuses a file with bad lines
    folder = save_adapter(result, "adapters/sql")                          # atomic: all or nothing
    local_engine(client).register_adapter("ft:gemma-3-270m:sql", folder)   # now a model name for the client

One module per step: `validation` (the training-file validator), `tokens` (token counts and hosted training
prices), `bad_data` (corrupted answers and ungrounded values, on purpose), `training` (the LoRA trainer),
`adapters` (saving, caching, the shipped longer run) and `hosted` (the same file on OpenAI or Azure OpenAI).
The names below are the ones the lessons use, so `from course_lib.finetune import train_lora` reads as before.
"""

from ..runtime.weights import load_training_model  # the bundled model as torch tensors, for training
from .adapters import (
                       LONGER_ADAPTER,
                       LONGER_CONFIG,
                       LONGER_TRAIN_SPLITS,
                       PROVENANCE,
                       TRAINING_RECORD,
                       cache_key,
                       cached_adapter_dir,
                       is_saved_adapter,
                       load_training_record,
                       longer_training_pairs,
                       save_adapter,
                       train_longer,
                       train_or_reuse,
)
from .bad_data import EVERYDAY_WORDS, corrupt_answers, number_forms, ungrounded_values
from .hosted import HOSTED_BASE_MODEL, hosted_fine_tune, upload_ready_copy
from .tokens import (
                       default_token_counter,
                       estimate_training_cost,
                       load_tokenizer,
                       split_example,
                       token_stats,
                       training_text,
)
from .training import (
                       ALL_LINEAR,
                       LESSON_CONFIG,
                       TrainConfig,
                       TrainResult,
                       answer_loss,
                       encode_example,
                       learning_rate_at,
                       make_batch,
                       train_lora,
)
from .validation import (
                       ISSUE_KINDS,
                       MAX_EXAMPLE_TOKENS,
                       NEAR_COPY,
                       Issue,
                       ValidationReport,
                       load_training_examples,
                       validate_lines,
                       validate_training_file,
)

__all__ = [
    "ALL_LINEAR", "EVERYDAY_WORDS", "HOSTED_BASE_MODEL", "ISSUE_KINDS", "LESSON_CONFIG", "LONGER_ADAPTER",
    "LONGER_CONFIG", "LONGER_TRAIN_SPLITS", "MAX_EXAMPLE_TOKENS", "NEAR_COPY", "PROVENANCE", "TRAINING_RECORD",
    "Issue", "TrainConfig", "TrainResult", "ValidationReport", "answer_loss", "cache_key", "cached_adapter_dir",
    "corrupt_answers", "default_token_counter", "encode_example", "estimate_training_cost", "hosted_fine_tune",
    "is_saved_adapter", "learning_rate_at", "load_tokenizer", "load_training_examples", "load_training_model",
    "load_training_record",
    "longer_training_pairs", "make_batch", "number_forms", "save_adapter", "split_example", "token_stats",
    "train_longer", "train_lora", "train_or_reuse", "training_text", "ungrounded_values", "upload_ready_copy",
    "validate_lines", "validate_training_file",
]
