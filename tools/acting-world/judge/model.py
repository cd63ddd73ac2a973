"""Per-frame judges for acting-world video: a hue-based colour classifier and character
segmenter, and a small CNN for emotion (5-way) and framing (2-way).

All judges work on frames resized to 64x64 (area averaging), whatever size the video has.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from world import COLOUR_NAMES, EMOTIONS, FRAMINGS  # noqa: E402

JUDGE_SIZE = 64
DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "judge.pt"


# MARK: - Frames


def prepare(frames: np.ndarray | torch.Tensor) -> torch.Tensor:
    """[F, H, W, 3] uint8 (0-255) or float (0-1) → float32 [F, 3, 64, 64] in [0, 1]."""
    x = frames if isinstance(frames, torch.Tensor) else torch.from_numpy(np.array(frames))
    if x.ndim != 4 or x.shape[-1] != 3:
        raise ValueError(f"frames: expected shape [F, H, W, 3], got {list(x.shape)}")
    x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float().clamp(0, 1)
    x = x.permute(0, 3, 1, 2).contiguous()
    if x.shape[-2:] != (JUDGE_SIZE, JUDGE_SIZE):
        x = F.interpolate(x, size=(JUDGE_SIZE, JUDGE_SIZE), mode="area")
    return x


def rgb_to_hsv(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """x: [F, 3, H, W] in [0, 1] → hue in degrees [0, 360), saturation, value (each [F, H, W])."""
    r, g, b = x[:, 0], x[:, 1], x[:, 2]
    mx, _ = x.max(dim=1)
    mn, _ = x.min(dim=1)
    delta = mx - mn
    sat = torch.where(mx > 1e-6, delta / mx.clamp_min(1e-6), torch.zeros_like(mx))
    safe = delta.clamp_min(1e-6)
    h = torch.where(mx == r, ((g - b) / safe) % 6, torch.where(mx == g, (b - r) / safe + 2, (r - g) / safe + 4))
    return (h * 60.0) % 360.0, sat, mx


# MARK: - Colour and position


@dataclass
class Segmenter:
    """The character is the set of saturated pixels whose hue is near one colour's centre.

    Backgrounds, tears, eyes and mouth are all low in saturation or value, so they drop out.
    `hue_centres` (degrees, one per colour in COLOUR_NAMES) are measured from rendered frames.
    """

    hue_centres: list[float]
    min_saturation: float = 0.45
    min_value: float = 0.30
    hue_window: float = 28.0
    min_pixels: int = 12

    def analyse(self, x: torch.Tensor) -> dict[str, np.ndarray]:
        """Per frame: colour index (-1 if no character found), centroid x/y and top edge
        (normalised, NaN when missing) and mask area fraction."""
        hue, sat, val = rgb_to_hsv(x)
        cand = (sat > self.min_saturation) & (val > self.min_value)
        centres = torch.tensor(self.hue_centres, dtype=torch.float32)
        # circular distance of every pixel's hue to every centre: [F, C, H, W]; each saturated
        # pixel votes for its nearest centre if it lies within the window
        dist = (hue[:, None] - centres[None, :, None, None]).abs()
        dist = torch.minimum(dist, 360.0 - dist)
        nearest = dist.argmin(dim=1, keepdim=True)
        near = (torch.zeros_like(dist, dtype=torch.bool).scatter_(1, nearest, True)
                & (dist < self.hue_window) & cand[:, None])
        counts = near.flatten(2).sum(-1)                        # [F, C]
        colour = counts.argmax(dim=1)
        best = counts.gather(1, colour[:, None])[:, 0]
        colour = torch.where(best >= self.min_pixels, colour, torch.full_like(colour, -1))
        mask = near[torch.arange(x.shape[0]), colour.clamp_min(0)].float()  # [F, H, W]
        mask = mask * (colour >= 0).float()[:, None, None]
        H, W = mask.shape[-2:]
        area = mask.flatten(1).sum(-1)
        ys = (torch.arange(H, dtype=torch.float32) + 0.5) / H
        xs = (torch.arange(W, dtype=torch.float32) + 0.5) / W
        cx = (mask.sum(1) * xs).sum(-1) / area.clamp_min(1)
        cy = (mask.sum(2) * ys).sum(-1) / area.clamp_min(1)
        # top edge: the row above which 3% of the mask lies (robust to stray pixels that
        # compression or noise scatter above the head)
        frac = mask.sum(2).cumsum(1) / area.clamp_min(1)[:, None]   # [F, H]
        top = (frac < 0.03).sum(1).float() / H
        top = torch.where(area > 0, top, torch.full_like(top, float("nan")))
        missing = colour < 0
        cx[missing] = float("nan")
        cy[missing] = float("nan")
        return {"colour": colour.numpy(), "x": cx.numpy(), "y": cy.numpy(), "top": top.numpy(),
                "area": (area / (H * W)).numpy()}


def measure_hue_centres(x: torch.Tensor, colours: np.ndarray, min_saturation: float = 0.45,
                        min_value: float = 0.30) -> list[float]:
    """Circular mean hue of the saturated pixels of frames of each colour."""
    hue, sat, val = rgb_to_hsv(x)
    cand = (sat > min_saturation) & (val > min_value)
    centres = []
    for c in range(len(COLOUR_NAMES)):
        sel = torch.as_tensor(colours == c)
        h = hue[sel][cand[sel]]
        if h.numel() == 0:
            raise ValueError(f"no saturated pixels for colour {COLOUR_NAMES[c]!r} in the calibration frames")
        ang = torch.deg2rad(h)
        mean = math.degrees(math.atan2(float(torch.sin(ang).mean()), float(torch.cos(ang).mean()))) % 360.0
        centres.append(round(mean, 2))
    return centres


# MARK: - Emotion / framing CNN


class JudgeNet(nn.Module):
    """Five conv blocks (64 → 4 px) and global average pooling, two linear heads."""

    def __init__(self, width: int = 16):
        super().__init__()
        w = width
        chans = [3, w, w, 2 * w, 2 * w, 3 * w]
        strides = [1, 2, 2, 2, 2]
        layers: list[nn.Module] = []
        for cin, cout, s in zip(chans[:-1], chans[1:], strides):
            layers += [nn.Conv2d(cin, cout, 3, stride=s, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
        self.features = nn.Sequential(*layers)
        self.emotion = nn.Linear(chans[-1], len(EMOTIONS))
        self.framing = nn.Linear(chans[-1], len(FRAMINGS))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.features((x - 0.5) / 0.25).mean(dim=(2, 3))
        return self.emotion(h), self.framing(h)


# MARK: - Saved judge


@dataclass
class Judge:
    net: JudgeNet
    segmenter: Segmenter
    info: dict

    def analyse(self, frames: np.ndarray | torch.Tensor) -> dict[str, np.ndarray]:
        """Per-frame predictions for frames [F, H, W, 3]: colour, emotion (+probabilities),
        framing (+probabilities), x, y, top edge and area of the character."""
        return self.analyse_prepared(prepare(frames))

    @torch.no_grad()
    def analyse_prepared(self, x: torch.Tensor, batch: int = 256) -> dict[str, np.ndarray]:
        """As `analyse`, for frames already passed through `prepare` ([F, 3, 64, 64])."""
        self.net.eval()
        emo, fr = [], []
        for i in range(0, x.shape[0], batch):
            e, f = self.net(x[i:i + batch])
            emo.append(e.softmax(-1))
            fr.append(f.softmax(-1))
        emo_p = torch.cat(emo).numpy() if emo else np.zeros((0, len(EMOTIONS)), np.float32)
        fr_p = torch.cat(fr).numpy() if fr else np.zeros((0, len(FRAMINGS)), np.float32)
        seg = self.segmenter.analyse(x)
        return {**seg, "emotion": emo_p.argmax(-1), "emotion_p": emo_p, "framing": fr_p.argmax(-1),
                "framing_p": fr_p}

    def save(self, path: Path) -> None:
        torch.save({"state_dict": self.net.state_dict(),
                    "width": self.info.get("width", 16), "hue_centres": self.segmenter.hue_centres,
                    "info": self.info}, path)

    @staticmethod
    def load(path: Path | str = DEFAULT_WEIGHTS) -> "Judge":
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"judge weights not found: {path} (run judge/train_judge.py)")
        blob = torch.load(path, map_location="cpu", weights_only=True)
        try:
            net = JudgeNet(width=int(blob["width"]))
            net.load_state_dict(blob["state_dict"])
            seg = Segmenter(hue_centres=[float(h) for h in blob["hue_centres"]])
        except (KeyError, RuntimeError) as error:
            raise ValueError(f"{path}: not a judge checkpoint ({error})") from error
        net.eval()
        return Judge(net=net, segmenter=seg, info=dict(blob.get("info", {})))
