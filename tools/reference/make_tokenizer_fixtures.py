#!/usr/bin/env python3
"""Generates the tokenizer fixtures under Tests/KinemaTests/Fixtures/tokenizer/.

Run from the repository root with the virtualenv made by tools/reference/setup-venv.sh:

    tools/reference/.venv/bin/python tools/reference/make_tokenizer_fixtures.py

What it writes (everything is seeded, so a rerun reproduces the same files):

* prompts.json: the prompt corpus (English, Chinese, full-width forms, accents, emoji, digit and
  punctuation runs, odd whitespace, HTML entities, special-token literals, over-long prompts).
* Two SentencePiece unigram models trained here with `normalization_rule_name=nmt_nfkc` and T5's
  special ids (pad 0, eos 1, unk 2, no bos), saved through transformers' `T5TokenizerFast` with 100
  extra ids:
    - t5-300:        vocab 300, no byte fallback, character coverage < 1 (so unknown characters occur);
    - t5-1000-bytes: vocab 1000 trained with byte_fallback (the <0xNN> pieces are in the vocab;
                     transformers 5's T5 tokenizer turns byte_fallback off).
* umt5-style: the t5-1000-bytes vocabulary laid out as transformers 4.3x's `T5Converter` wrote
  tokenizer.json files (the era google/umt5-xxl's file comes from; its exact contents could not
  be checked): normalizer Sequence[Precompiled, Strip(right), Replace(" {2,}" -> "▁")], a lone
  Metaspace pre-tokenizer with the legacy `add_prefix_space` key, and `byte_fallback: true`. Its expected ids come from the `tokenizers` library directly, because
  transformers 5 rebuilds T5 pipelines on load instead of using the file as written.
* components and metaspace-first: the same vocabulary with the other components Kinema reads
  (NFKC, Strip, regex and string Replace, WhitespaceSplit, Metaspace with prepend_scheme "first",
  a template with a prefix token or none at all, the Replace/ByteFallback/Fuse/Strip decoders,
  and added tokens with single_word, lstrip, rstrip and normalized set), expected ids again from
  the `tokenizers` library.
* <name>/expected.json: ids with and without special tokens, truncated ids (max_length 64 and 512),
  padded encodings for a few prompts, and decoded strings (with and without special tokens).
* prompt_cleaner.json: `html.unescape` twice, strip, collapse whitespace runs, strip (what Wan and
  diffusers do besides ftfy).
"""

import html
import json
import random
import re
import shutil
import sys
import tempfile
from pathlib import Path

import sentencepiece as spm
import tokenizers
import transformers
from transformers import T5TokenizerFast

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "Tests" / "KinemaTests" / "Fixtures" / "tokenizer"
MAX_LENGTHS = [64, 512]
EXTRA_IDS = 100
PADDED_PROMPTS = 12  # the first prompts also get a padded (max_length 64) expectation
PLAIN_PROMPTS = 60  # the first prompts also get add_special_tokens=False expectations

WAN_NEGATIVE = ("色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，整体发灰，最差质量，低质量，"
                "JPEG压缩残留，丑陋的，残缺的，多余的手指，画得不好的手部，画得不好的脸部，畸形的，毁容的，形态畸形的肢体，"
                "手指融合，静止不动的画面，杂乱的背景，三条腿，背景人很多，倒着走")
DIF_NEGATIVE = ("Bright tones, overexposed, static, blurred details, subtitles, style, works, paintings, images, "
                "static, overall gray, worst quality, low quality, JPEG compression residue, ugly, incomplete, "
                "extra fingers, poorly drawn hands, poorly drawn faces, deformed, disfigured, misshapen limbs, "
                "fused fingers, still picture, messy background, three legs, many people in the background, "
                "walking backwards")

SUBJECTS = ["a cat", "two dogs", "an astronaut", "a young woman", "an old fisherman", "a red fox", "a robot",
            "a panda", "a samurai", "a little girl", "a jazz band", "a hot air balloon", "a vintage car",
            "a dragon", "a ballerina", "a surfer", "a chef", "a knight", "a hummingbird", "a sailboat"]
ACTIONS = ["running through", "dancing in", "floating above", "walking along", "jumping over", "sleeping in",
           "flying across", "painting", "exploring", "racing through", "playing guitar in", "cooking in"]
PLACES = ["a snowy forest", "the neon streets of Tokyo", "a sunflower field", "the surface of the moon",
          "an ancient temple", "a busy market", "a quiet library", "the ocean at sunset", "a desert canyon",
          "a bamboo grove", "a rainy alley", "the Swiss Alps", "a coral reef", "a medieval castle"]
STYLES = ["cinematic lighting", "slow motion", "4K, highly detailed", "watercolor style", "film grain",
          "shot on 35mm", "golden hour", "soft focus", "dramatic shadows", "anime style", "drone shot",
          "hyperrealistic", "pastel colors", "long exposure"]
CHINESE = ["一只猫在草地上奔跑", "夕阳下的海滩，海浪拍打着岸边", "城市夜景，霓虹灯闪烁", "一个女孩在雨中跳舞",
           "古老的寺庙，云雾缭绕", "宇航员在月球表面行走", "高清，电影质感，慢动作", "水彩画风格的山水",
           "熊猫在竹林里吃竹子", "赛车在赛道上飞驰", "秋天的枫叶缓缓飘落", "雪山之巅，阳光明媚",
           "镜头缓慢推进，人物微笑", "一条金鱼在水缸里游动", "老人在公园里打太极", "孩子们在放风筝",
           "繁忙的街道，人来人往", "烟花在夜空中绽放", "小船在湖面上漂流", "厨师正在切菜"]
ACCENTED = ["Café au lait près de la fenêtre", "El niño pequeño juega en el jardín", "Über den Dächern von München",
            "São Paulo à noite, ruas movimentadas", "Crème brûlée et pâté de campagne", "Smörgåsbord på bordet",
            "Þórshöfn og Reykjavík", "Zażółć gęślą jaźń", "Tiếng Việt có dấu: phở bò ngon tuyệt",
            "Çocuklar bahçede oynuyor", "naïve façade, résumé, coöperate", "Ærø og Østerbro"]


def training_corpus(rng):
    lines = []
    for _ in range(2500):
        lines.append(f"{rng.choice(SUBJECTS)} {rng.choice(ACTIONS)} {rng.choice(PLACES)}, {rng.choice(STYLES)}.")
    for _ in range(600):
        lines.append("，".join(rng.sample(CHINESE, 3)) + "。")
    for _ in range(300):
        lines.append(" ".join(rng.sample(ACCENTED, 2)))
    for _ in range(40):
        lines.append(WAN_NEGATIVE)
        lines.append(DIF_NEGATIVE)
    for i in range(200):
        lines.append(f"Scene {i}: {rng.randint(1, 99999)} frames at {rng.choice([16, 24, 30, 60])} fps, "
                     f"{rng.choice(['1280x720', '832x480', '1920x1080'])}!")
    rng.shuffle(lines)
    return "\n".join(lines) + "\n"


def prompt_corpus(rng):
    prompts = []
    # English video prompts.
    for _ in range(70):
        prompts.append(f"{rng.choice(SUBJECTS).capitalize()} {rng.choice(ACTIONS)} {rng.choice(PLACES)}, "
                       f"{rng.choice(STYLES)}, {rng.choice(STYLES)}.")
    prompts += [DIF_NEGATIVE, "A cat.", "Hello world", "hello", "HELLO WORLD!!!", "don't stop-believing; (ok)"]
    # Chinese, the Wan negative prompt and its I2V / FLF2V variants.
    prompts += [WAN_NEGATIVE, "镜头晃动，" + WAN_NEGATIVE, "镜头切换，" + WAN_NEGATIVE]
    for _ in range(30):
        prompts.append("，".join(rng.sample(CHINESE, rng.randint(1, 4))))
    prompts += ["一只可爱的小狗 running in the park，阳光明媚 sunny day", "中文English混合123测试",
                "生僻字：龘靐齉爩", "繁體中文：電影質感，慢動作", "日本語：桜の花が舞う", "한국어: 벚꽃이 흩날린다",
                "Русский текст: кошка бежит", "العربية: قطة تجري", "हिन्दी: बिल्ली दौड़ती है", "ภาษาไทย: แมววิ่ง"]
    # Full-width forms and compatibility characters.
    prompts += ["ＡＢＣ１２３，！", "ＨＥＬＬＯ　ＷＯＲＬＤ", "全角：（括号）【方括号】「引号」", "１２３４５６７８９０",
                "ｈｔｔｐｓ：／／ｅｘａｍｐｌｅ．ｃｏｍ", "ｶﾀｶﾅ ﾊﾝｶｸ ｶﾞｷﾞｸﾞ", "①②③ ⑴⑵⑶ ⅠⅡⅢ", "ﬁne ﬂower ﬀ ﬃ",
                "㍿ ㌔ ㎏ ㎞ ℃ ™ ℡", "x² y³ H₂O", "½ ¼ ¾", "Ａ\u0301 Ｅ\u0308 ｎ\u0303"]
    # Accented letters, precomposed and combining.
    prompts += ACCENTED
    prompts += ["e\u0301te\u0301 a\u0300 la plage", "n\u0303 u\u0308 o\u0302 i\u0308", "A\u030a\u0301 q\u0307\u0323",
                "Z\u0351\u036b\u0343\u036a\u0302\u036b\u033d\u034f\u0334\u0319\u0324\u031e\u0349\u035a\u032f\u031e\u0320\u034dA\u036b\u0357\u0334\u0362\u0335\u031c\u0330\u0354L\u0368\u0367\u0369\u0358\u0320G\u0311\u0357\u030e\u0305\u035b\u0341\u0334\u033b\u0348\u034d\u0354\u0339O\u0342\u030c\u030c\u0358\u0328\u0335\u0339\u033b\u031d\u0333",
                "Ǆ ǅ ǆ Ǳ", "İstanbul ıi", "ß ẞ straße", "Å Å Å"]
    # Emoji.
    prompts += ["🐱🐶🦊", "A happy dog 🐕 running 🏃‍♂️ fast!", "👨‍👩‍👧‍👦 family", "🇯🇵🇫🇷🇺🇸", "👍🏽👍🏿",
                "1️⃣2️⃣3️⃣", "❤️ love ❤", "🎬🎥📽️ cinema", "🧑‍🚀 in space 🚀🌕", "😀😃😄😁😆😅😂🤣"]
    # Digit and punctuation runs.
    prompts += ["1234567890", "3.14159265358979", "!!!???...", "----====____", "$$$ 100% @#&*",
                "(((nested)))", "a.b.c.d.e", "1,000,000.00", "v2.1.0-beta+build.5", "12:30:45 2024-01-31",
                "…——‥", "“smart quotes” ‘single’", "«guillemets» ‹single›", "~`^|\\/<>{}[]", "..,,;;::"]
    # Whitespace: leading, trailing, repeated, tabs, newlines and other Unicode spaces.
    prompts += ["", " ", "   ", "\t", "\n", "\r\n", " \t\n ", "  leading spaces", "trailing spaces   ",
                "  both sides  ", "many     spaces     between", "tab\tseparated\tvalues", "line1\nline2\nline3",
                "windows\r\nline endings", "mixed \t \n whitespace", "no-break\u00a0space", "ideographic\u3000space",
                "thin\u2009space and hair\u200aspace", "zero\u200bwidth\u200bspace", "line\u2028separator",
                "para\u2029separator", "next\u0085line", "vertical\x0btab and form\x0cfeed", "file\x1csep\x1dgroup",
                "soft\u00adhyphen", "bom\ufeffinside", "word joiner\u2060here", "\u3000\u3000全角空格开头",
                "  \u00a0 mixed\u2003spaces \u3000 ", "a\n\n\nb", "ends with newline\n", "\tstarts with tab"]
    # HTML entities (raw: the tokenizer sees them unescaped only after PromptCleaner).
    prompts += ["Tom &amp; Jerry", "&lt;b&gt;bold&lt;/b&gt;", "&quot;quoted&quot; and &#39;single&#39;",
                "&#x4e2d;&#25991; characters", "caf&eacute; cr&egrave;me", "&nbsp;spaced&nbsp;out&nbsp;",
                "&amp;amp; double escaped &amp;lt;", "&ampx &amp &ampamp", "&notit; &notin; &not",
                "&#0; &#13; &#128; &#x9F; &#xD800; &#x110000; &#99999999999999999999;", "&#128512; &#X1F600; &#x1f600",
                "&copy 2024 &reg &COPY;", "&unknownentity; &zz; &;", "&#65;&#x42;&#x43 &#", "AT&T and a & b && c",
                "&Aacute;&aacute;&Eacute;&eacute;", "&hellip;&mdash;&ndash;&lsquo;&rsquo;", "&NewLine;&Tab;&nbsp;",
                "&#x1;&#xb;&#xfffe; &#x1fffe;", "&ThickSpace;&nbsp;&ensp;&emsp;", "&amp;#39; &amp;quot;",
                "&thinsp;&zwnj;&zwj;&lrm;", "&lt&gt&amp&quot", "&frac12; &frac34; &sup2;", "&alpha;&beta;&Omega;"]
    # Special-token literals and byte-piece look-alikes.
    prompts += ["</s>", "<pad>", "<unk>", "hello</s>world", "<extra_id_0> fills <extra_id_1>", "a <pad> b <unk> c",
                "<s>not special</s>", "<0x41> <0xE4> <0x0A>", "</s></s></s>", "text <extra_id_99>"]
    # Added tokens of the "components" fixture: single_word / lstrip / rstrip / normalized.
    prompts += ["magic", "a magic trick", "amagic", "magicb", "  magic   show", "so magic!", "magic\tmagic",
                "ＦＵＬＬ moon", "FULL moon", "fullＦＵＬＬfull", "   <spark>   fire", "x<spark>y<spark>",
                "  leading then <extra_id_0>  after", "<extra_id_0>   starts with a token"]
    # Random mixtures of characters from many scripts.
    pools = ["abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "0123456789", " ,.;:!?-()'\"",
             "色调艳丽过曝静态细节模糊字幕风格作品画面", "龘靐齉爩鱻麤", "éèêëñüöäçåø", "\u0301\u0308\u0303",
             "ＡＢＣａｂｃ１２３，．！", "🐱🚀❤️👍🏽", "ｶﾞｷﾞ", "　\t\n", "αβγδ", "кошка", "한국어", "ภาษา"]
    for _ in range(60):
        length = rng.randint(1, 40)
        prompts.append("".join(rng.choice(rng.choice(pools)) for _ in range(length)))
    # Over-long prompts: these get truncated at max_length 64 and 512.
    prompts.append(" ".join(f"{rng.choice(SUBJECTS)} {rng.choice(ACTIONS)} {rng.choice(PLACES)}, {rng.choice(STYLES)}."
                            for _ in range(40)))
    prompts.append((WAN_NEGATIVE + "，") * 6)
    prompts.append(" ".join(rng.sample(ACCENTED, len(ACCENTED))) * 4)
    prompts.append(DIF_NEGATIVE + " " + WAN_NEGATIVE + " " + DIF_NEGATIVE + " " + WAN_NEGATIVE)
    prompts.append("word " * 700)
    prompts.append("1234567890" * 80)
    prompts.append("🐱" * 300)
    prompts.append(" ".join("".join(rng.choice(pools[0]) for _ in range(rng.randint(1, 12))) for _ in range(400)))
    return prompts


def clean_prompt(text):
    """Wan's / diffusers' prompt cleaning without ftfy."""
    text = html.unescape(html.unescape(text)).strip()
    return re.sub(r"\s+", " ", text).strip()


def train(name, corpus_path, workdir, **options):
    spm.set_random_generator_seed(1234)
    prefix = str(workdir / name)
    spm.SentencePieceTrainer.train(
        input=str(corpus_path), model_prefix=prefix, model_type="unigram",
        normalization_rule_name="nmt_nfkc", pad_id=0, eos_id=1, unk_id=2, bos_id=-1,
        pad_piece="<pad>", eos_piece="</s>", unk_piece="<unk>", num_threads=1,
        minloglevel=2, **options)
    return Path(prefix + ".model")


def save_through_transformers(model_path, target):
    """Converts a SentencePiece model the way transformers does and saves tokenizer.json."""
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copy(model_path, Path(tmp) / "spiece.model")
        tokenizer = T5TokenizerFast.from_pretrained(tmp, extra_ids=EXTRA_IDS)
    target.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(str(target))
    for extra in ("special_tokens_map.json", "spiece.model"):
        if (target / extra).exists():
            (target / extra).unlink()
    return T5TokenizerFast.from_pretrained(str(target))


def umt5_style_json(t5_json):
    """Rewrites a transformers 5 T5 tokenizer.json into the transformers 4.3x T5Converter layout."""
    data = json.loads(json.dumps(t5_json))
    data["normalizer"] = {"type": "Sequence", "normalizers": [
        t5_json["normalizer"],
        {"type": "Strip", "strip_left": False, "strip_right": True},
        {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": "▁"},
    ]}
    data["pre_tokenizer"] = {"type": "Metaspace", "replacement": "▁", "add_prefix_space": True,
                             "prepend_scheme": "always"}
    data["decoder"] = {"type": "Metaspace", "replacement": "▁", "add_prefix_space": True,
                       "prepend_scheme": "always"}
    data["model"]["byte_fallback"] = True
    return data


def components_json(t5_json, metaspace_first_only):
    """Other components on the t5-1000-bytes vocabulary (see the module docstring)."""
    data = json.loads(json.dumps(t5_json))
    data["model"]["byte_fallback"] = True
    if metaspace_first_only:
        data["normalizer"] = {"type": "Sequence", "normalizers": [
            {"type": "NFKC"},
            {"type": "Replace", "pattern": {"Regex": "\\A +| +\\z"}, "content": ""},
            {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "},
        ]}
        data["pre_tokenizer"] = {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": True}
        data["post_processor"] = None
        data["decoder"] = {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": True}
    else:
        data["normalizer"] = {"type": "Sequence", "normalizers": [
            {"type": "NFKC"},
            {"type": "Strip", "strip_left": True, "strip_right": True},
            {"type": "Replace", "pattern": {"String": "\t"}, "content": " "},
            {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "},
        ]}
        data["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
            {"type": "WhitespaceSplit"},
            {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": True},
        ]}
        data["post_processor"] = {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "<extra_id_0>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                       {"SpecialToken": {"id": "</s>", "type_id": 0}}],
            "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {
                "<extra_id_0>": {"id": "<extra_id_0>", "ids": [t5_json_id(t5_json, "<extra_id_0>")],
                                 "tokens": ["<extra_id_0>"]},
                "</s>": {"id": "</s>", "ids": [1], "tokens": ["</s>"]}}}
        data["decoder"] = {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
            {"type": "ByteFallback"},
            {"type": "Fuse"},
            {"type": "Strip", "content": " ", "start": 1, "stop": 0},
        ]}
    tokenizer = tokenizers.Tokenizer.from_str(json.dumps(data))
    tokenizer.add_tokens([
        tokenizers.AddedToken("magic", single_word=True, lstrip=True, rstrip=True, normalized=False, special=False),
        tokenizers.AddedToken("ＦＵＬＬ", normalized=True, special=False),
        tokenizers.AddedToken("<spark>", lstrip=True, normalized=False, special=True),
    ])
    return json.loads(tokenizer.to_str())


def t5_json_id(t5_json, content):
    return next(t["id"] for t in t5_json["added_tokens"] if t["content"] == content)


def compact(obj):
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def write_expected(target, prompts, encode, decode):
    cases = []
    for index, prompt in enumerate(prompts):
        ids = encode(prompt, True, None, False)["ids"]
        case = {"ids": ids, "decoded": decode(ids, True)}
        with_special = decode(ids, False)
        if with_special != case["decoded"]:
            case["decoded_with_special"] = with_special
        if index < PLAIN_PROMPTS:
            case["plain"] = encode(prompt, False, None, False)["ids"]
        truncated = {}
        for max_length in MAX_LENGTHS:
            if len(ids) > max_length:
                truncated[str(max_length)] = encode(prompt, True, max_length, False)["ids"]
        if truncated:
            case["truncated"] = truncated
        cases.append(case)
    padded = []
    for index in range(PADDED_PROMPTS):
        enc = encode(prompts[index], True, 64, True)
        padded.append({"prompt": index, "max_length": 64, "ids": enc["ids"], "mask": enc["mask"]})
    text = "{\n\"max_lengths\":" + compact(MAX_LENGTHS) + ",\n\"padded\":[\n" + ",\n".join(compact(p) for p in padded)
    text += "\n],\n\"cases\":[\n" + ",\n".join(compact(c) for c in cases) + "\n]\n}\n"
    (target / "expected.json").write_text(text, encoding="utf-8")
    return cases


def transformers_callbacks(tokenizer):
    def encode(prompt, special, max_length, pad):
        kwargs = {"add_special_tokens": special}
        if max_length is not None:
            kwargs.update(truncation=True, max_length=max_length)
        if pad:
            kwargs.update(padding="max_length")
        out = tokenizer(prompt, **kwargs)
        return {"ids": list(out["input_ids"]), "mask": list(out["attention_mask"])}

    def decode(ids, skip):
        return tokenizer.decode(ids, skip_special_tokens=skip)
    return encode, decode


def library_callbacks(tokenizer):
    """The `tokenizers` library used directly (what the tokenizer.json file itself specifies)."""
    pad_id = tokenizer.token_to_id("<pad>")

    def encode(prompt, special, max_length, pad):
        tokenizer.no_truncation()
        tokenizer.no_padding()
        if max_length is not None:
            tokenizer.enable_truncation(max_length)
        if pad:
            tokenizer.enable_padding(length=max_length, pad_id=pad_id, pad_token="<pad>")
        out = tokenizer.encode(prompt, add_special_tokens=special)
        tokenizer.no_truncation()
        tokenizer.no_padding()
        return {"ids": out.ids, "mask": out.attention_mask}

    def decode(ids, skip):
        return tokenizer.decode(ids, skip_special_tokens=skip)
    return encode, decode


def sentencepiece_agreement(model_path, prompts, hf_cases):
    """Counts prompts where the HF pipeline and SentencePiece itself give different ids (informational)."""
    processor = spm.SentencePieceProcessor(model_file=str(model_path))
    differing = sum(1 for prompt, case in zip(prompts, hf_cases)
                    if processor.encode(prompt, add_eos=True) != case["ids"])
    return differing


def main():
    print("transformers", transformers.__version__, "tokenizers", tokenizers.__version__,
          "sentencepiece", spm.__version__, file=sys.stderr)
    rng = random.Random(20240531)
    OUT.mkdir(parents=True, exist_ok=True)
    prompts = prompt_corpus(rng)
    assert len(prompts) >= 300, len(prompts)
    (OUT / "prompts.json").write_text(
        "[\n" + ",\n".join(json.dumps(p, ensure_ascii=False) for p in prompts) + "\n]\n", encoding="utf-8")

    cleaned = [{"input": p, "output": clean_prompt(p)} for p in prompts]
    (OUT / "prompt_cleaner.json").write_text(
        "[\n" + ",\n".join(compact(c) for c in cleaned) + "\n]\n", encoding="utf-8")

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        corpus = workdir / "corpus.txt"
        corpus.write_text(training_corpus(random.Random(7)), encoding="utf-8")
        models = {
            "t5-300": train("t5-300", corpus, workdir, vocab_size=300, character_coverage=0.98),
            "t5-1000-bytes": train("t5-1000-bytes", corpus, workdir, vocab_size=1000, character_coverage=1.0,
                                   byte_fallback=True),
        }
        for name, model_path in models.items():
            target = OUT / name
            tokenizer = save_through_transformers(model_path, target)
            encode, decode = transformers_callbacks(tokenizer)
            cases = write_expected(target, prompts, encode, decode)
            # The saved file read by the `tokenizers` library alone must agree with transformers.
            library = tokenizers.Tokenizer.from_file(str(target / "tokenizer.json"))
            lib_encode, _ = library_callbacks(library)
            for prompt, case in zip(prompts, cases):
                assert lib_encode(prompt, True, None, False)["ids"] == case["ids"], prompt
            print(f"{name}: {len(cases)} prompts; SentencePiece differs on "
                  f"{sentencepiece_agreement(model_path, prompts, cases)}", file=sys.stderr)

        # umt5-style layout, built from the byte-fallback vocabulary.
        target = OUT / "umt5-style"
        target.mkdir(parents=True, exist_ok=True)
        source = json.loads((OUT / "t5-1000-bytes" / "tokenizer.json").read_text(encoding="utf-8"))
        (target / "tokenizer.json").write_text(
            json.dumps(umt5_style_json(source), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        library = tokenizers.Tokenizer.from_file(str(target / "tokenizer.json"))
        encode, decode = library_callbacks(library)
        cases = write_expected(target, prompts, encode, decode)
        print(f"umt5-style: {len(cases)} prompts; SentencePiece differs on "
              f"{sentencepiece_agreement(models['t5-1000-bytes'], prompts, cases)}", file=sys.stderr)

        # How transformers 5 treats such a file: T5Tokenizer rebuilds the pipeline on load
        # (Precompiled only, WhitespaceSplit + Metaspace, byte_fallback off).
        (target / "tokenizer_config.json").write_text(json.dumps(
            {"tokenizer_class": "T5Tokenizer", "eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>",
             "extra_ids": EXTRA_IDS}, indent=2) + "\n", encoding="utf-8")
        rebuilt = T5TokenizerFast.from_pretrained(str(target))
        raw_diff = sum(1 for p, c in zip(prompts, cases) if rebuilt(p)["input_ids"] != c["ids"])
        clean_diff = sum(1 for p in prompts if rebuilt(clean_prompt(p))["input_ids"] != encode(clean_prompt(p), True, None, False)["ids"])
        print(f"umt5-style: transformers {transformers.__version__} rebuilt pipeline differs from the file on "
              f"{raw_diff} raw prompts, {clean_diff} cleaned prompts", file=sys.stderr)
        no_bytes = umt5_style_json(source)
        no_bytes["model"]["byte_fallback"] = False
        no_bytes_encode, _ = library_callbacks(tokenizers.Tokenizer.from_str(json.dumps(no_bytes)))
        clean_diff = [p for p in prompts
                      if rebuilt(clean_prompt(p))["input_ids"] != no_bytes_encode(clean_prompt(p), True, None, False)["ids"]]
        print(f"umt5-style without byte_fallback: the rebuilt pipeline differs on {len(clean_diff)} cleaned prompts "
              f"{[clean_prompt(p) for p in clean_diff[:5]]}", file=sys.stderr)

        for name, first_only in (("components", False), ("metaspace-first", True)):
            target = OUT / name
            target.mkdir(parents=True, exist_ok=True)
            (target / "tokenizer.json").write_text(
                json.dumps(components_json(source, first_only), ensure_ascii=False, indent=2) + "\n",
                encoding="utf-8")
            library = tokenizers.Tokenizer.from_file(str(target / "tokenizer.json"))
            cases = write_expected(target, prompts, *library_callbacks(library))
            print(f"{name}: {len(cases)} prompts", file=sys.stderr)



if __name__ == "__main__":
    main()
