#!/usr/bin/env python3
"""Reference fixtures for the TypeScript Qwen model (src/llm), from Hugging Face `transformers`.

Run by hand, never in CI (see requirements.txt for the pinned versions):

  reference  builds a tiny random Qwen3 and a tiny random Qwen2 with transformers, saves each with
             save_pretrained (config.json + model.safetensors), and writes the reference outputs
             of two token sequences of different lengths (input ids, logits, last hidden state after
             the final norm) to <name>.reference.safetensors, plus metadata.json (versions, seeds).

      python tools/reference/make_fixtures.py reference --out test/fixtures/llm

  roundtrip  loads a directory that OUR code saved (AutoModelForCausalLM.from_pretrained), runs the
             sequences stored in a reference file, and writes the logits it gets, with the sha256 of
             every file it loaded, so a test can check that the directory we write today is the one
             Python read, and that our logits on it equal Python's.

      python tools/reference/make_fixtures.py roundtrip --model /tmp/saved --ids test/fixtures/llm/qwen3-tiny.reference.safetensors \
          --out test/fixtures/llm/qwen3-tiny-resized.roundtrip.safetensors

Everything is float32 with eager attention (the plain softmax(QK^T)V path), on CPU.
"""
import argparse
import hashlib
import json
import os
import platform
import sys

import numpy as np
import torch
import transformers
import safetensors
from safetensors.numpy import save_file, load_file
from transformers import AutoModelForCausalLM, Qwen2Config, Qwen3Config

SEED = 20251129

# hidden 64, 2 layers, 4 heads over 2 kv heads (2 query heads per kv head), small vocabularies; and a
# smaller multi-query Qwen3 with every attention bias.
MODELS = {
    "qwen3-tiny": lambda: Qwen3Config(
        vocab_size=300,
        hidden_size=64,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=24,  # != hidden_size / num_attention_heads (16): Qwen3 allows it
        rms_norm_eps=1e-6,
        rope_parameters={"rope_type": "default", "rope_theta": 1000000.0},
        tie_word_embeddings=True,
        attention_bias=False,
        max_position_embeddings=256,
        bos_token_id=1,
        eos_token_id=2,
    ),
    "qwen2-tiny": lambda: Qwen2Config(
        vocab_size=300,
        hidden_size=64,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        rms_norm_eps=1e-6,
        rope_parameters={"rope_type": "linear", "factor": 2.0, "rope_theta": 10000.0},
        tie_word_embeddings=False,
        max_position_embeddings=256,
        bos_token_id=1,
        eos_token_id=2,
    ),
    # Multi-query attention (1 kv head for 4 query heads), Qwen3 with attention_bias (q/k/v/o biases), untied.
    "qwen3-mqa-bias": lambda: Qwen3Config(
        vocab_size=128,
        hidden_size=32,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=1,
        head_dim=8,
        rms_norm_eps=1e-5,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
        tie_word_embeddings=False,
        attention_bias=True,
        max_position_embeddings=128,
        bos_token_id=1,
        eos_token_id=2,
    ),
}
LENGTHS = (9, 17)


def versions():
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "safetensors": safetensors.__version__,
        "numpy": np.__version__,
    }


def perturb(model, generator):
    """Random init scaled so activations are O(1): transformers' N(0, 0.02) with norms of exactly 1
    and zero biases would leave near-uniform logits that hide mistakes (a wrong norm or bias)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=generator, dtype=torch.float32)
            if name.endswith("norm.weight"):
                p.copy_(1.0 + 0.2 * noise)
            elif name.endswith(".bias"):
                p.copy_(0.2 * noise)
            else:
                p.copy_(0.15 * noise)


@torch.no_grad()
def outputs(model, ids):
    out = model(input_ids=torch.tensor([ids], dtype=torch.long), output_hidden_states=True)
    return out.logits[0].float().numpy(), out.hidden_states[-1][0].float().numpy()


def reference(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    meta = {"versions": versions(), "seed": SEED, "lengths": list(LENGTHS), "models": {}}
    for index, (name, make) in enumerate(MODELS.items()):
        torch.manual_seed(SEED + index)
        generator = torch.Generator().manual_seed(SEED + index)
        config = make()
        model = AutoModelForCausalLM.from_config(config, attn_implementation="eager", dtype=torch.float32).eval()
        perturb(model, generator)
        model.save_pretrained(os.path.join(out_dir, name))
        tensors = {}
        rng = np.random.default_rng(SEED + index)
        for s, length in enumerate(LENGTHS):
            ids = rng.integers(0, config.vocab_size, size=length).astype(np.int32)
            logits, hidden = outputs(model, ids.tolist())
            tensors[f"ids_{s}"] = ids
            tensors[f"logits_{s}"] = np.ascontiguousarray(logits, dtype=np.float32)
            tensors[f"hidden_{s}"] = np.ascontiguousarray(hidden, dtype=np.float32)
        save_file(tensors, os.path.join(out_dir, f"{name}.reference.safetensors"), metadata={"model": name})
        meta["models"][name] = {"config": config.to_dict()}
        print(f"{name}: {sum(p.numel() for p in model.parameters())} parameters")
    with open(os.path.join(out_dir, "metadata.json"), "w") as f:
        json.dump(meta, f, indent=2, sort_keys=True, default=str)
        f.write("\n")


def roundtrip(model_dir, ids_file, out_file):
    files = {}
    for entry in sorted(os.listdir(model_dir)):
        path = os.path.join(model_dir, entry)
        if os.path.isfile(path):
            with open(path, "rb") as f:
                files[entry] = hashlib.sha256(f.read()).hexdigest()
    model, info = AutoModelForCausalLM.from_pretrained(
        model_dir, attn_implementation="eager", dtype=torch.float32, output_loading_info=True)
    model.eval()
    # transformers fills missing weights with random values and only warns: a saved directory must
    # load completely, every tensor used, or the logits below would prove nothing.
    problems = {key: sorted(map(str, value)) for key, value in info.items() if value}
    if problems:
        raise SystemExit(f"{model_dir} did not load cleanly: {problems}")
    given = load_file(ids_file)
    tensors = {}
    s = 0
    while f"ids_{s}" in given:
        ids = given[f"ids_{s}"].astype(np.int32)
        logits, hidden = outputs(model, ids.tolist())
        tensors[f"ids_{s}"] = ids
        tensors[f"logits_{s}"] = np.ascontiguousarray(logits, dtype=np.float32)
        tensors[f"hidden_{s}"] = np.ascontiguousarray(hidden, dtype=np.float32)
        s += 1
    metadata = {"files": json.dumps(files, sort_keys=True), "versions": json.dumps(versions(), sort_keys=True),
                "vocab_size": str(model.config.vocab_size), "class": type(model).__name__,
                "loading_info": json.dumps({key: sorted(map(str, value)) for key, value in info.items()}, sort_keys=True)}
    save_file(tensors, out_file, metadata=metadata)
    print(f"{out_file}: {type(model).__name__}, vocab {model.config.vocab_size}, {s} sequences, files {files}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="mode", required=True)
    ref = sub.add_parser("reference")
    ref.add_argument("--out", required=True)
    rt = sub.add_parser("roundtrip")
    rt.add_argument("--model", required=True, help="a directory saved by src/llm/checkpoint.ts")
    rt.add_argument("--ids", required=True, help="a *.reference.safetensors file whose ids_N to run")
    rt.add_argument("--out", required=True)
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    if args.mode == "reference":
        reference(args.out)
    else:
        roundtrip(args.model, args.ids, args.out)


if __name__ == "__main__":
    sys.exit(main())
