"""Random clip specifications and the English prompts and judge timelines derived from them.

Every prompt is written FROM a spec, so its labels are exact. Conventions the prompts follow
(and a model trained on them learns):
- the first shot always states framing and emotion; an action that is not mentioned means the
  character stands still;
- at a cut the new framing is always stated; an emotion that is not mentioned at a cut is the
  one the character had just before the cut;
- a colour is stated once; it changes only when a cut introduces "a <colour> character", and
  then stays for the rest of the clip;
- times are multiples of 0.5 s, written "at 3 seconds", "at 3 s", "after 3 seconds" or
  "3 seconds in", all meaning the same instant.
The vocabulary is deliberately small (see `vocabulary()`); it trains the tokenizer.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from world import (ACTIONS, BACKGROUND_NAMES, COLOUR_NAMES, EMOTIONS, FRAMINGS, ClipSpec,
                   EmotionEvent, Shot)

# MARK: - Vocabulary

COLOUR_WORDS = {
    "red": ["red", "red", "scarlet"],
    "orange": ["orange", "orange", "tangerine"],
    "yellow": ["yellow", "yellow", "golden"],
    "green": ["green", "green", "emerald"],
    "blue": ["blue", "blue", "cobalt"],
    "purple": ["purple", "purple", "violet"],
}
NOUNS = ["character", "cartoon character", "figure", "creature", "little figure"]
CLOSEUP_NOUNS = NOUNS + ["cartoon face", "face"]

EMOTION_ADJ = {
    "neutral": ["neutral", "calm", "expressionless"],
    "happy": ["happy", "cheerful", "joyful"],
    "sad": ["sad", "unhappy", "tearful"],
    "angry": ["angry", "furious", "mad"],
    "surprised": ["surprised", "astonished", "shocked"],
}
# "<subject> ___" when the emotion changes
EMOTION_CHANGE = {
    "neutral": ["calms down", "becomes calm", "turns neutral", "goes back to a neutral face"],
    "happy": ["smiles", "starts smiling", "becomes happy", "turns happy", "breaks into a smile"],
    "sad": ["frowns and cries", "starts crying", "becomes sad", "turns sad"],
    "angry": ["gets angry", "becomes angry", "turns angry", "starts scowling"],
    "surprised": ["looks surprised", "becomes surprised", "gasps in surprise", "turns surprised"],
}
# "<subject> ___" describing a held emotion, for a character that stands still
EMOTION_STATE = {
    "neutral": ["looks calm", "looks neutral", "keeps a blank face"],
    "happy": ["smiles", "looks happy", "grins"],
    "sad": ["cries", "looks sad", "frowns"],
    "angry": ["scowls", "looks angry", "glares"],
    "surprised": ["looks surprised", "gasps", "stares in surprise"],
}
# "<subject> <action> ___"
EMOTION_MANNER_SPECIFIC = {
    "neutral": ["with a blank expression"],
    "happy": ["while smiling", "with a big smile"],
    "sad": ["while crying", "with tears running down"],
    "angry": ["while scowling", "with an angry scowl"],
    "surprised": ["with wide eyes", "in surprise"],
}

ACTION_PRES = {
    "still": ["stands still", "stays in place", "stands in one spot"],
    "left": ["walks to the left", "moves left", "heads to the left", "walks left"],
    "right": ["walks to the right", "moves right", "heads to the right", "walks right"],
    "jump": ["jumps", "hops", "jumps up and down", "bounces up and down"],
}
ACTION_GER = {
    "still": ["standing still", "staying in place"],
    "left": ["walking to the left", "moving left", "heading to the left"],
    "right": ["walking to the right", "moving right", "heading to the right"],
    "jump": ["jumping", "hopping", "jumping up and down"],
}

FRAMING_NP = {"closeup": ["close-up", "close shot", "tight shot"],
              "wide": ["wide shot", "full shot", "long shot"]}


def _pick(rng: np.random.Generator, options: list[str]) -> str:
    return options[int(rng.integers(len(options)))]


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def _a(word: str) -> str:
    return f"{_article(word)} {word}"


def _fmt_seconds(t: float) -> str:
    return str(int(t)) if abs(t - round(t)) < 1e-9 else f"{t:g}"


def time_phrase(t: float, rng: np.random.Generator) -> str:
    n = _fmt_seconds(t)
    unit = "second" if n == "1" else "seconds"
    return _pick(rng, [f"at {n} {unit}", f"at {n} s", f"after {n} {unit}", f"{n} {unit} in"])


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def _manner(emotion: str, rng: np.random.Generator) -> str:
    if rng.random() < 0.4:
        return _pick(rng, EMOTION_MANNER_SPECIFIC[emotion])
    adj = _pick(rng, EMOTION_ADJ[emotion])
    return _pick(rng, [f"while looking {adj}", f"looking {adj}", f"with {_a(adj)} expression"])


def _predicate(action: str, emotion: str | None, rng: np.random.Generator) -> str:
    """Present-tense predicate: '<action> <manner>' or, for standing still, an emotion verb."""
    if action == "still" and emotion is not None and rng.random() < 0.6:
        return _pick(rng, EMOTION_STATE[emotion])
    pred = _pick(rng, ACTION_PRES[action])
    return pred if emotion is None else f"{pred} {_manner(emotion, rng)}"


def _gerund(action: str, emotion: str | None, rng: np.random.Generator) -> str:
    if action == "still" and emotion is not None and rng.random() < 0.6:
        return f"looking {_pick(rng, EMOTION_ADJ[emotion])}"
    ger = _pick(rng, ACTION_GER[action])
    return ger if emotion is None else f"{ger} {_manner(emotion, rng)}"


# MARK: - Spec sampling

GRID = 0.5          # every cut and emotion change sits on a 0.5 s grid
MIN_SHOT = 1.5      # seconds
MAX_EVENTS = 3      # cuts + emotion changes in one clip


def _x_range(framing: str, action: str, duration: float, rng: np.random.Generator) -> tuple[float, float]:
    if action in ("left", "right"):
        lo, hi, tmin, tmax = (0.35, 0.65, 0.20, 0.30) if framing == "closeup" else (0.18, 0.82, 0.30, 0.60)
        travel = float(rng.uniform(tmin, min(tmax, max(tmin, 0.3 * duration))))
        start = float(rng.uniform(lo + travel, hi))
        x0, x1 = start, start - travel
        if action == "right":
            x0, x1 = 1 - x0, 1 - x1
        return round(x0, 3), round(x1, 3)
    lo, hi = (0.42, 0.58) if framing == "closeup" else (0.30, 0.70)
    x = round(float(rng.uniform(lo, hi)), 3)
    return x, x


def _grid(a: float, b: float) -> list[float]:
    """Grid times t with a <= t <= b."""
    first = np.ceil(a / GRID - 1e-9) * GRID
    return [float(t) for t in np.arange(first, b + 1e-9, GRID)]


def sample_spec(rng: np.random.Generator, duration: float) -> ClipSpec:
    """A random clip of `duration` seconds (2-8 s intended; any value >= 1.5 works)."""
    duration = float(duration)
    colour = _pick(rng, COLOUR_NAMES)
    max_shots = max(1, min(3, int(duration // MIN_SHOT)))
    n_shots = min(max_shots, int(rng.choice([1, 2, 3], p=[0.4, 0.35, 0.25])))
    cuts: list[float] = []
    for _ in range(50):
        cand = sorted(rng.choice(_grid(MIN_SHOT, duration - MIN_SHOT), size=n_shots - 1, replace=False).tolist()) \
            if n_shots > 1 else []
        bounds = [0.0] + cand + [duration]
        if all(b - a >= MIN_SHOT - 1e-9 for a, b in zip(bounds, bounds[1:])):
            cuts = cand
            break
    else:
        n_shots = 1
    bounds = [0.0] + cuts + [duration]
    events_left = MAX_EVENTS - len(cuts)
    colour_change_at = int(rng.integers(1, len(bounds) - 1)) if len(cuts) and rng.random() < 0.1 else None
    shots: list[Shot] = []
    current_colour = None
    prev_emotion = None
    prev_background = None
    for k in range(len(bounds) - 1):
        start, end = bounds[k], bounds[k + 1]
        framing = _pick(rng, FRAMINGS)
        action = _pick(rng, ACTIONS)
        background = _pick(rng, [b for b in BACKGROUND_NAMES if b != prev_background])
        if prev_emotion is not None and rng.random() < 0.4:
            first = prev_emotion
        else:
            first = _pick(rng, EMOTIONS)
        emotions = [EmotionEvent(start, first)]
        # at most two changes per clip, each 1 s from the shot edges and from each other
        while events_left > 0 and rng.random() < (0.75 if n_shots == 1 else 0.45):
            times = _grid(emotions[-1].time + 1.0, end - 1.0)
            if not times:
                break
            t = float(rng.choice(times))
            new = _pick(rng, [e for e in EMOTIONS if e != emotions[-1].emotion])
            emotions.append(EmotionEvent(t, new))
            events_left -= 1
            if len(emotions) == 3:
                break
        if colour_change_at == k:
            current_colour = _pick(rng, [c for c in COLOUR_NAMES if c != colour])
        x0, x1 = _x_range(framing, action, end - start, rng)
        shots.append(Shot(start=start, end=end, framing=framing, action=action, background=background,
                          emotions=emotions, x_start=x0, x_end=x1, colour=current_colour))
        prev_emotion = emotions[-1].emotion
        prev_background = background
    spec = ClipSpec(colour=colour, duration=duration, shots=shots)
    spec.validate()
    return spec


# MARK: - Prompt writing


def spec_to_prompt(spec: ClipSpec, rng: np.random.Generator) -> str:
    """One English description of `spec`, chosen at random among equivalent phrasings."""
    spec.validate()
    first = spec.shots[0]
    colour_word = _pick(rng, COLOUR_WORDS[spec.colour])
    # "a cartoon face" reads well only for a close-up of a character that stays in place
    face_ok = first.framing == "closeup" and first.action == "still"
    noun = _pick(rng, CLOSEUP_NOUNS if face_ok else NOUNS)
    subject_ref = "the character" if noun.endswith("face") else "the " + noun.split()[-1]
    fr = _pick(rng, FRAMING_NP[first.framing])
    emo = first.emotions[0].emotion
    form = int(rng.integers(4))
    if form == 0:
        sentence = f"{_cap(_a(fr))} of {_a(colour_word)} {noun} {_gerund(first.action, emo, rng)}"
    elif form == 1:
        sentence = f"{_cap(_a(colour_word))} {noun} {_predicate(first.action, emo, rng)}, in {_a(fr)}"
    elif form == 2:
        adj = _pick(rng, EMOTION_ADJ[emo])
        pred = _pick(rng, ACTION_PRES[first.action])
        sentence = f"In {_a(fr)}, {_a(adj)} {colour_word} {noun} {pred}"
    else:
        sentence = f"{_cap(fr)}: {_a(colour_word)} {noun} {_predicate(first.action, emo, rng)}"
    parts = [sentence]  # sentences without final punctuation
    # ", then <verb>" only reads well after a clause with a finite verb, not after a noun phrase
    finite = [form != 0]

    def add_clause(text: str, joined: bool, has_verb: bool = True) -> None:
        if joined:
            parts[-1] = parts[-1] + text
        else:
            parts.append(text)
        finite[0] = has_verb

    last_emotion = emo
    for k, shot in enumerate(spec.shots):
        if k > 0:
            prev_colour = spec.shot_colour(spec.shots[k - 1])
            new_colour = spec.shot_colour(shot)
            when = time_phrase(shot.start, rng)
            fr = _pick(rng, FRAMING_NP[shot.framing])
            e0 = shot.emotions[0].emotion
            say_emotion = e0 if (e0 != last_emotion or rng.random() < 0.5) else None
            if new_colour != prev_colour:
                cw = _pick(rng, COLOUR_WORDS[new_colour])
                noun = _pick(rng, NOUNS)
                subject_ref = "the " + noun.split()[-1]
                e = e0  # a new character: always state its emotion
                if rng.random() < 0.5:
                    add_clause(f"; {when} the scene cuts to {_a(fr)} of {_a(cw)} {noun} "
                               f"{_gerund(shot.action, e, rng)}", True, has_verb=False)
                else:
                    add_clause(f"{_cap(when)}, it cuts to {_a(cw)} {noun} that "
                               f"{_predicate(shot.action, e, rng)}, in {_a(fr)}", False)
            else:
                form = int(rng.integers(4))
                if form == 0:
                    add_clause(f"; {when} it cuts to {_a(fr)} where it {_predicate(shot.action, say_emotion, rng)}",
                               True)
                elif form == 1:
                    add_clause(f"{_cap(when)}, the video cuts to {_a(fr)}: {subject_ref} "
                               f"{_predicate(shot.action, say_emotion, rng)}", False)
                elif form == 2:
                    add_clause(f"{_cap(when)} there is a cut to {_a(fr)} of {subject_ref} "
                               f"{_gerund(shot.action, say_emotion, rng)}", False, has_verb=False)
                else:
                    add_clause(f"Cut to {_a(fr)} {when}: {subject_ref} "
                               f"{_predicate(shot.action, say_emotion, rng)}", False)
            last_emotion = e0
        for ev in shot.emotions[1:]:
            when = time_phrase(ev.time, rng)
            change = _pick(rng, EMOTION_CHANGE[ev.emotion])
            form = int(rng.integers(3)) if finite[0] else int(rng.integers(1, 3))
            if form == 0:
                add_clause(f", then {change} {when}", True)
            elif form == 1:
                add_clause(f"{_cap(when)}, it {change}", False)
            else:
                add_clause(f"{_cap(when)} {subject_ref} {change}", False)
            last_emotion = ev.emotion
    return " ".join(p + "." for p in parts)


def shot_spec(spec: ClipSpec, k: int) -> ClipSpec:
    """Shot k of `spec` as a clip of its own: its times counted from the shot's start, its
    colour stated as the clip's."""
    spec.validate()
    s = spec.shots[k]
    d = s.end - s.start
    alone = Shot(start=0.0, end=d, framing=s.framing, action=s.action, background=s.background,
                 emotions=[EmotionEvent(round(e.time - s.start, 9), e.emotion) for e in s.emotions],
                 x_start=s.x_start, x_end=s.x_end)
    out = ClipSpec(colour=spec.shot_colour(s), duration=d, shots=[alone])
    out.validate()
    return out


def shot_prompts(spec: ClipSpec, rng: np.random.Generator) -> list[tuple[str, float]]:
    """(prompt, seconds) for each shot of `spec`, each prompt describing its shot as a clip of
    its own: what a user of the engine's shots (`kinema generate --shot SECONDS:TEXT ...`)
    writes for this clip."""
    return [(spec_to_prompt(shot_spec(spec, k), rng), spec.shots[k].end - spec.shots[k].start)
            for k in range(len(spec.shots))]


def beat_prompts(spec: ClipSpec, k: int, rng: np.random.Generator,
                 phrase=spec_to_prompt) -> tuple[str, list[tuple[float, str]]]:
    """Shot k of `spec` as one prompt per emotion: the prompt of its first emotion, and a
    (seconds from the shot's start, prompt) beat for each change, every prompt describing the
    shot with that one emotion throughout -- what a user of the engine's beats (`kinema generate
    --shot SECONDS:TEXT --beat SECONDS:TEXT ...`) writes for it. `phrase(spec, rng)` words each
    prompt (training passes one that avoids the held-out prompts and may return None)."""
    alone = shot_spec(spec, k)
    shot = alone.shots[0]

    def holding(emotion: str) -> str:
        still = replace(shot, emotions=[EmotionEvent(0.0, emotion)])
        return phrase(replace(alone, shots=[still]), rng)

    return holding(shot.emotions[0].emotion), [(e.time, holding(e.emotion)) for e in shot.emotions[1:]]


# MARK: - Judge timeline


def spec_to_timeline(spec: ClipSpec) -> dict:
    """The intended timeline the judge scores against (no prompt parsing needed)."""
    spec.validate()
    shots = [{"start": s.start, "end": s.end, "framing": s.framing, "action": s.action,
              "colour": spec.shot_colour(s)} for s in spec.shots]
    emotions = []
    for s in spec.shots:
        for j, e in enumerate(s.emotions):
            end = s.emotions[j + 1].time if j + 1 < len(s.emotions) else s.end
            if emotions and emotions[-1]["emotion"] == e.emotion and abs(emotions[-1]["end"] - e.time) < 1e-9:
                emotions[-1]["end"] = end
            else:
                emotions.append({"start": e.time, "end": end, "emotion": e.emotion})
    return {"duration": spec.duration, "colour": spec.colour, "cuts": spec.cut_times(),
            "shots": shots, "emotions": emotions}


def vocabulary() -> list[str]:
    """Every word the templates can produce apart from numbers (for a quick size check)."""
    words: set[str] = set()
    tables = [COLOUR_WORDS, EMOTION_ADJ, EMOTION_CHANGE, EMOTION_STATE, EMOTION_MANNER_SPECIFIC,
              ACTION_PRES, ACTION_GER, FRAMING_NP]
    for table in tables:
        for options in table.values():
            for o in options:
                words.update(o.split())
    for n in CLOSEUP_NOUNS:
        words.update(n.split())
    words.update("a an of in the while looking with expression it then at s second seconds after cuts cut to "
                 "where video there is scene that".split())
    return sorted(words)


__all__ = ["sample_spec", "spec_to_prompt", "spec_to_timeline", "time_phrase", "vocabulary",
           "ACTIONS", "EMOTIONS", "FRAMINGS"]
