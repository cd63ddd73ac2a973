#!/usr/bin/env python3
"""transformers' UMT5EncoderModel on the CPU at Wan's UMT5-XXL shapes, for comparison with
`kinema-bench umt5`.

Run with the virtualenv from tools/reference/setup-venv.sh (tools/bench/umt5.sh does):
    tools/reference/.venv/bin/python tools/bench/umt5_torch.py [--layers N] [--tokens N]
        [--runs N] [--dtype bfloat16|float32] [--threads N] [--pad-to N]

The model is built in memory with random weights (no checkpoint on disk). --dtype bfloat16
(the default) is what a CPU user gets from `UMT5EncoderModel.from_pretrained` on Wan's
text_encoder/ folder: transformers' default dtype="auto" keeps the checkpoint's bf16, and
UMT5's `_keep_in_fp32_modules` applies only to float16. --dtype float32 is the same model
widened, as from_pretrained(..., dtype=torch.float32) gives; at 24 layers it needs ~23 GB.
--pad-to 512 runs the prompt padded to 512 tokens with its attention mask, which is how
the Wan pipelines call the encoder (Kinema runs only the real tokens; the rows are the same).
Prints one line `RESULT torch-<dtype>[-padded<N>] seconds=... peak_rss_bytes=...`.
"""
import argparse
import math
import resource
import statistics
import time

import torch
from transformers import UMT5Config, UMT5EncoderModel


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--layers", type=int, default=24)
    parser.add_argument("--tokens", type=int, default=40)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--dtype", choices=["bfloat16", "float32"], default="bfloat16")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's choice)")
    parser.add_argument("--pad-to", type=int, default=0,
                        help="pad the prompt with <pad> to this length and pass the attention mask, as the Wan "
                             "pipelines do (diffusers and the original release both encode 512 tokens)")
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)

    config = UMT5Config(
        vocab_size=256384, d_model=4096, d_kv=64, d_ff=10240, num_layers=args.layers, num_heads=64,
        relative_attention_num_buckets=32, relative_attention_max_distance=128,
        feed_forward_proj="gated-gelu", is_encoder_decoder=False, dropout_rate=0.0)
    start = time.perf_counter()
    # Parameters are allocated directly in the target dtype (never a float32 copy of the whole
    # model) and filled with uniform values of each layer's fan-in variance.
    with torch.device("meta"):
        model = UMT5EncoderModel(config)
    model = model.to(dtype).to_empty(device="cpu").eval()
    # to_empty gives the tied embedding two storages; tie them again as loading does.
    model.encoder.embed_tokens = model.shared
    print(f"transformers UMT5EncoderModel: d_model 4096, 64 heads x 64, d_ff 10240, {args.layers} layers, "
          f"vocabulary 256384; {args.dtype} weights and compute; {args.tokens} tokens"
          f"{f' padded to {args.pad_to}' if args.pad_to > args.tokens else ''}; "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, attention '{model.config._attn_implementation}'")
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("layer_norm.weight"):
                p.fill_(1)
            elif name == "shared.weight" or "relative_attention_bias" in name:
                p.uniform_(-math.sqrt(3), math.sqrt(3), generator=generator)
            else:
                bound = math.sqrt(3 / p.shape[1])
                p.uniform_(-bound, bound, generator=generator)
    print(f"weights: {sum(p.numel() * p.element_size() for p in model.parameters()) / 1e9:.2f} GB, "
          f"built in {time.perf_counter() - start:.1f} s")

    tokens = [2 + (i * 7919 + 104729) % 255998 for i in range(args.tokens - 1)] + [1]
    length = max(args.pad_to, len(tokens))
    ids = torch.tensor([tokens + [0] * (length - len(tokens))])
    mask = torch.tensor([[1] * len(tokens) + [0] * (length - len(tokens))])
    times, cpu_times = [], []
    with torch.inference_mode():
        out = model(input_ids=ids, attention_mask=mask).last_hidden_state  # warm-up
        assert torch.isfinite(out.float()).all(), "output is not finite"
        for _ in range(max(args.runs, 3)):
            t0, c0 = time.perf_counter(), time.process_time()
            model(input_ids=ids, attention_mask=mask)
            times.append(time.perf_counter() - t0)
            cpu_times.append(time.process_time() - c0)
    seconds, cpu = statistics.median(times), statistics.median(cpu_times)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(f"encode: {seconds:.3f} s (median of {len(times)} after one warm-up), {cpu:.3f} CPU-seconds")
    print(f"peak RSS: {peak / 1e9:.2f} GB")
    label = f"torch-{args.dtype}" + (f"-padded{length}" if length > len(tokens) else "")
    print(f"RESULT {label} seconds={seconds:.4f} cpu_seconds={cpu:.4f} peak_rss_bytes={peak} "
          f"layers={args.layers} tokens={args.tokens}")


if __name__ == "__main__":
    main()
