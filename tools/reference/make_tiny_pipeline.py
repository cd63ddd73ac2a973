#!/usr/bin/env python3
"""Builds a tiny random diffusers `WanPipeline` in Tests/KinemaTests/Fixtures/tiny-pipeline/.

Run with the virtualenv made by tools/reference/setup-venv.sh:

    tools/reference/.venv/bin/python tools/reference/make_tiny_pipeline.py

The folder has the exact layout `WanPipeline.save_pretrained` produces for the published
Wan2.1 Diffusers checkpoints (model_index.json, transformer/, vae/, text_encoder/, tokenizer/,
scheduler/), with configurations a few dozen channels wide so the whole folder stays far below
1 MB. The text encoder is stored in bfloat16 and split into shards with an index file, as the
published UMT5 encoder is, so both the sharded and the single-file loading paths are covered.

The tokenizer is a unigram SentencePiece model trained on a few sentences and converted by
transformers' T5 tokenizer. It uses the identity normalizer: the real UMT5 tokenizer's
precompiled NFKC map alone is larger than this whole fixture.
"""
import io
import json
import os
import shutil
import sys
import tempfile

import sentencepiece as spm
import torch
from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanPipeline, WanTransformer3DModel
from transformers import T5Tokenizer, UMT5Config, UMT5EncoderModel

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                   "Tests", "KinemaTests", "Fixtures", "tiny-pipeline")

SENTENCES = [
    "A cat walks on the grass in the morning light.",
    "A red car drives along a coastal road at sunset.",
    "Waves crash against the rocks while seagulls fly overhead.",
    "A small dog runs through a field of yellow flowers.",
    "The city skyline glows at night with neon lights.",
    "Snow falls gently on a quiet mountain village.",
    "An astronaut rides a horse on the moon, cinematic lighting.",
    "Two people dance in the rain under a streetlamp.",
]

# The values the Swift tests check; keep them in step with ConfigurationTests.swift.
TRANSFORMER = dict(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12,
                   in_channels=4, out_channels=4, text_dim=16, freq_dim=16, ffn_dim=32,
                   num_layers=2, cross_attn_norm=True, qk_norm="rms_norm_across_heads", eps=1e-6,
                   rope_max_seq_len=32)
VAE = dict(base_dim=4, z_dim=4, dim_mult=[1, 2, 2], num_res_blocks=1, attn_scales=[],
           temperal_downsample=[False, True], dropout=0.0,
           latents_mean=[0.1, -0.2, 0.3, -0.4], latents_std=[1.5, 0.5, 2.0, 1.0],
           scale_factor_temporal=2, scale_factor_spatial=4)
TEXT_ENCODER = dict(d_model=16, d_kv=8, d_ff=32, num_layers=2, num_heads=2,
                    relative_attention_num_buckets=8, relative_attention_max_distance=16,
                    feed_forward_proj="gated-gelu", layer_norm_epsilon=1e-6, dropout_rate=0.0,
                    pad_token_id=0, eos_token_id=1, tie_word_embeddings=False)
SCHEDULER = dict(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0,
                 num_train_timesteps=1000, solver_order=2)


def make_tokenizer(workdir: str) -> T5Tokenizer:
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(SENTENCES), model_writer=model, vocab_size=60,
        model_type="unigram", pad_id=0, eos_id=1, unk_id=2, bos_id=-1,
        normalization_rule_name="identity", num_threads=1, hard_vocab_limit=False,
        minloglevel=2)
    sp_dir = os.path.join(workdir, "sentencepiece")
    os.makedirs(sp_dir)
    with open(os.path.join(sp_dir, "spiece.model"), "wb") as f:
        f.write(model.getvalue())
    return T5Tokenizer.from_pretrained(sp_dir, extra_ids=0)


def main() -> None:
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as work:
        tokenizer = make_tokenizer(work)
    text_encoder = UMT5EncoderModel(UMT5Config(vocab_size=len(tokenizer), **TEXT_ENCODER)).eval()
    transformer = WanTransformer3DModel(**TRANSFORMER).eval()
    vae = AutoencoderKLWan(**VAE).eval()
    scheduler = UniPCMultistepScheduler(**SCHEDULER)
    pipe = WanPipeline(tokenizer=tokenizer, text_encoder=text_encoder, vae=vae,
                       scheduler=scheduler, transformer=transformer)

    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    pipe.save_pretrained(OUT)

    # Re-save the text encoder as the published checkpoints store it: bfloat16, sharded.
    te_dir = os.path.join(OUT, "text_encoder")
    shutil.rmtree(te_dir)
    text_encoder.to(torch.bfloat16).save_pretrained(te_dir, max_shard_size="8KB")
    if not os.path.exists(os.path.join(te_dir, "model.safetensors.index.json")):
        sys.exit("the text encoder was not sharded; lower max_shard_size")

    files = sorted(os.path.relpath(os.path.join(r, n), OUT) for r, _, fs in os.walk(OUT) for n in fs)
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in files)
    for f in files:
        print(f"{os.path.getsize(os.path.join(OUT, f)):8d}  {f}")
    print(f"{total:8d}  total")
    if total >= 1_000_000:
        sys.exit("the tiny pipeline must stay under 1 MB")
    print(json.dumps({"tokenizer_length": len(tokenizer),
                      "ids": tokenizer("A cat dances at night.")["input_ids"]}))


if __name__ == "__main__":
    main()
