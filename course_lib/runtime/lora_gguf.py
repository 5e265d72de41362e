"""Convert a peft LoRA adapter of Gemma 3 270M into llama.cpp's GGUF adapter format. Taught in 03_fine_tuning."""

from __future__ import annotations

import json
import re
from pathlib import Path

from ..files import atomic_path

ARCH = "gemma3"  # llama.cpp refuses an adapter whose architecture differs from the base model's
PEFT_PREFIX = "base_model.model."  # peft's prefix on every saved weight name
WEIGHT_KEY = re.compile(r"(?P<module>.+)\.lora_(?P<part>A|B)\.weight")  # model.layers.3.self_attn.q_proj.lora_A.weight


class AdapterConversionError(ValueError):
    """The adapter cannot be converted to GGUF; the message names the file and says what to do."""


def export_lora_gguf(adapter_dir: str | Path, out_file: str | Path | None = None) -> Path:
    """Write the peft LoRA adapter in `adapter_dir` (what `model.save_pretrained()` wrote) as a llama.cpp GGUF adapter.

    The file goes to `out_file`, by default `adapter_dir/adapter.gguf`; returns its path. It holds the metadata
    `general.type = "adapter"`, `adapter.type = "lora"`, `adapter.lora.alpha` and `general.architecture = "gemma3"`,
    and for each adapted weight two tensors named after the base model's GGUF tensor, e.g.
    `blk.3.attn_q.weight.lora_a` (peft's `lora_A`, r × in) and `blk.3.attn_q.weight.lora_b` (peft's `lora_B`,
    out × r). llama.cpp adds `B @ A @ x * alpha / r * scale` to the layer's output, r read from each tensor's shape:
    the sum peft computes, so the matrices are written as they are. Raises AdapterConversionError for an adapter
    llama.cpp would run differently (DoRA, rsLoRA, per-module alphas, LoRA on the embeddings, extra trained modules).
    """
    import gguf

    adapter_dir = Path(adapter_dir)
    out_file = Path(out_file) if out_file is not None else adapter_dir / "adapter.gguf"
    config = _read_config(adapter_dir)
    pairs = _read_pairs(adapter_dir)

    layers = [int(m[1]) for module in pairs if (m := re.search(r"\.layers\.(\d+)\.", module))]
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.GEMMA3, max(layers, default=0) + 1)
    weights_file = adapter_dir / "adapter_model.safetensors"
    tensors = {}
    for module, (a, b) in sorted(pairs.items()):
        gguf_name = names.get_name(module)
        if gguf_name is None or not gguf_name.startswith("blk."):
            raise AdapterConversionError(
                f"{weights_file} adapts `{module}`, which llama.cpp cannot adapt in this course's Gemma 3 GGUF "
                f"(LoRA is supported on the layers' attention and MLP projections only). Train again with "
                f"target_modules among q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj.")
        if a.shape[0] != b.shape[1]:
            raise AdapterConversionError(f"{weights_file}: `{module}` has lora_A of shape {tuple(a.shape)} and "
                                         f"lora_B of shape {tuple(b.shape)}, whose ranks differ; save the adapter "
                                         "again with `model.save_pretrained()`.")
        # numpy shapes as peft stores them: A is (r, in), B is (out, r). GGUFWriter reverses the order into GGUF's
        # (in, r) and (r, out), which is what llama.cpp checks against the base tensor's (in, out). float32: with
        # float16 llama.cpp's log-probabilities moved 8e-4 from peft's on an fp32 base model, with float32 7e-4,
        # the same as without adapter (tests/test_lora_gguf.py compares the engines' tokens).
        tensors[f"{gguf_name}.weight.lora_a"] = a.float().numpy()
        tensors[f"{gguf_name}.weight.lora_b"] = b.float().numpy()

    writer = gguf.GGUFWriter(None, ARCH)  # adds general.architecture
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(config["lora_alpha"]))
    writer.add_name(adapter_dir.name)
    for name, array in tensors.items():
        writer.add_tensor(name, array)

    with atomic_path(out_file) as tmp:  # a reader never sees a half-written adapter
        writer.write_header_to_file(tmp)
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
    return out_file


def _read_config(adapter_dir: Path) -> dict:
    """adapter_config.json, checked for the LoRA variants llama.cpp runs exactly like peft."""
    config_file = adapter_dir / "adapter_config.json"
    if not config_file.is_file():
        raise AdapterConversionError(f"{config_file} does not exist; pass the folder that "
                                     "`model.save_pretrained()` wrote after LoRA training.")
    config = json.loads(config_file.read_text())
    retrain = "Train again without it to serve the adapter with llama.cpp."
    if config.get("peft_type", "LORA") != "LORA":
        raise AdapterConversionError(f"{config_file} describes a {config['peft_type']} adapter; only LoRA "
                                     "adapters convert to GGUF.")
    if config.get("use_dora"):
        raise AdapterConversionError(f"{config_file} has use_dora: true. llama.cpp has no DoRA. {retrain}")
    if config.get("use_rslora"):
        raise AdapterConversionError(f"{config_file} sets use_rslora: peft then scales by alpha/sqrt(r), llama.cpp "
                                     f"always by alpha/r. {retrain}")
    if config.get("alpha_pattern"):
        raise AdapterConversionError(f"{config_file} sets alpha_pattern (an alpha per module); llama.cpp reads one "
                                     f"alpha for the whole adapter. {retrain}")
    if config.get("bias", "none") != "none" or config.get("lora_bias"):
        raise AdapterConversionError(f"{config_file} trains biases; llama.cpp adapters hold no biases. {retrain}")
    if config.get("modules_to_save") or config.get("trainable_token_indices") or config.get("target_parameters"):
        raise AdapterConversionError(f"{config_file} also trains whole modules, tokens or parameters "
                                     f"(modules_to_save, trainable_token_indices or target_parameters), which a "
                                     f"GGUF LoRA adapter cannot hold. {retrain}")
    if str(config.get("init_lora_weights", "")).lower().startswith(("pissa", "olora", "corda", "loftq")):
        raise AdapterConversionError(f"{config_file} has init_lora_weights {config['init_lora_weights']!r}, which "
                                     "changes the base weights too; llama.cpp adds the adapter to the original base "
                                     f"model. {retrain}")
    if config.get("fan_in_fan_out"):
        raise AdapterConversionError(f"{config_file} has fan_in_fan_out: true, which Gemma's layers never need; "
                                     "train again with the default fan_in_fan_out=False.")
    alpha = config.get("lora_alpha")
    if not isinstance(alpha, (int, float)) or alpha <= 0:
        raise AdapterConversionError(f"{config_file} has lora_alpha {alpha!r}; llama.cpp needs a positive alpha "
                                     "(alpha 0 would mean no alpha/r scaling at all).")
    return config


def _read_pairs(adapter_dir: Path) -> dict:
    """{HF module name: (lora_A, lora_B)} as torch tensors, from adapter_model.safetensors."""
    from safetensors.torch import load_file

    weights_file = adapter_dir / "adapter_model.safetensors"
    if not weights_file.is_file():
        hint = ("it holds adapter_model.bin: save with `model.save_pretrained(folder)` (safetensors is the default)"
                if (adapter_dir / "adapter_model.bin").is_file() else "pass the folder `model.save_pretrained()` wrote")
        raise AdapterConversionError(f"{weights_file} does not exist; {hint}.")
    pairs: dict[str, dict[str, object]] = {}
    for key, tensor in load_file(weights_file).items():
        match = WEIGHT_KEY.fullmatch(key.removeprefix(PEFT_PREFIX))
        if match is None:
            what = "a DoRA magnitude" if "lora_magnitude_vector" in key else (
                "an embedding LoRA" if "lora_embedding" in key else "not a LoRA matrix")
            raise AdapterConversionError(f"{weights_file} holds `{key}` ({what}); only LoRA matrices on linear "
                                         "layers convert to GGUF. Train again with target_modules among q_proj, "
                                         "k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj.")
        pairs.setdefault(match["module"], {})[match["part"]] = tensor
    if not pairs:
        raise AdapterConversionError(f"{weights_file} holds no LoRA weights.")
    for module, parts in pairs.items():
        if set(parts) != {"A", "B"}:
            raise AdapterConversionError(f"{weights_file} has lora_{''.join(parts)} but not both lora_A and lora_B "
                                         f"for `{module}`; save the adapter again with `model.save_pretrained()`.")
    return {module: (parts["A"], parts["B"]) for module, parts in pairs.items()}
