"""Reads a clip to score as float32 frames [F, H, W, 3] in [0, 1].

Accepted forms:
- `.safetensors` with a float32 tensor `video` [F, H, W, 3] in [0, 1] (uint8 0-255 also
  accepted); an `fps` entry in the file's metadata is honoured;
- a directory of PNG (or JPEG) frames, taken in file-name order;
- `.npz` with `frames` [F, H, W, 3] (uint8 or float) and optionally `fps`, as written by
  generate.py;
- `.mp4`/`.mov`/`.mkv`/`.webm`/`.avi`, decoded by calling the `ffmpeg` and `ffprobe` command-line
  tools when they are installed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np

VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".webm", ".avi"}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}


def _as_float_frames(a: np.ndarray, where: str) -> np.ndarray:
    if a.ndim != 4 or a.shape[-1] != 3:
        raise ValueError(f"{where}: expected frames [F, H, W, 3], got shape {list(a.shape)}")
    if a.shape[0] == 0:
        raise ValueError(f"{where}: no frames")
    if a.dtype == np.uint8:
        return a.astype(np.float32) / 255.0
    a = a.astype(np.float32)
    if not np.isfinite(a).all():
        raise ValueError(f"{where}: frames contain NaN or infinity")
    return np.clip(a, 0.0, 1.0)


def _load_safetensors(path: Path) -> tuple[np.ndarray, float | None]:
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as f:
        if "video" not in f.keys():
            raise ValueError(f"{path}: no tensor named 'video' (found {sorted(f.keys())})")
        video = f.get_tensor("video")
        meta = f.metadata() or {}
    fps = None
    if "fps" in meta:
        try:
            fps = float(meta["fps"])
        except ValueError as error:
            raise ValueError(f"{path}: metadata fps {meta['fps']!r} is not a number") from error
    return _as_float_frames(video, f"{path}: tensor 'video'"), fps


def _load_png_dir(path: Path) -> np.ndarray:
    from PIL import Image

    files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ValueError(f"{path}: directory holds no .png/.jpg frames")
    frames = []
    for p in files:
        with Image.open(p) as im:
            frames.append(np.asarray(im.convert("RGB"), dtype=np.uint8))
    shapes = {f.shape for f in frames}
    if len(shapes) != 1:
        raise ValueError(f"{path}: frames differ in size ({sorted(shapes)})")
    return _as_float_frames(np.stack(frames), str(path))


def _load_npz(path: Path) -> tuple[np.ndarray, float | None]:
    with np.load(path, allow_pickle=False) as z:
        if "frames" not in z.files:
            raise ValueError(f"{path}: no array named 'frames' (found {z.files})")
        fps = float(z["fps"]) if "fps" in z.files else None
        return _as_float_frames(z["frames"], f"{path}: frames"), fps


def _load_with_ffmpeg(path: Path) -> tuple[np.ndarray, float | None]:
    ffmpeg, ffprobe = shutil.which("ffmpeg"), shutil.which("ffprobe")
    if ffmpeg is None or ffprobe is None:
        raise ValueError(f"{path}: reading {path.suffix} needs the ffmpeg and ffprobe command-line tools, "
                         f"which are not installed; pass a .safetensors video or a folder of PNG frames")
    probe = subprocess.run([ffprobe, "-v", "error", "-select_streams", "v:0", "-show_entries",
                            "stream=width,height,avg_frame_rate", "-of", "json", str(path)],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        raise ValueError(f"{path}: ffprobe failed: {probe.stderr.strip()}")
    try:
        stream = json.loads(probe.stdout)["streams"][0]
        width, height = int(stream["width"]), int(stream["height"])
        rate = Fraction(stream.get("avg_frame_rate", "0/1"))
    except (KeyError, IndexError, ValueError, ZeroDivisionError) as error:
        raise ValueError(f"{path}: no readable video stream ({error})") from error
    run = subprocess.run([ffmpeg, "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                         capture_output=True)
    if run.returncode != 0:
        raise ValueError(f"{path}: ffmpeg failed: {run.stderr.decode(errors='replace').strip()}")
    frame_bytes = width * height * 3
    if frame_bytes == 0 or len(run.stdout) % frame_bytes != 0:
        raise ValueError(f"{path}: decoded {len(run.stdout)} bytes, not a whole number of {width}x{height} frames")
    frames = np.frombuffer(run.stdout, dtype=np.uint8).reshape(-1, height, width, 3)
    return _as_float_frames(frames, str(path)), (float(rate) if rate > 0 else None)


def load_video(path: Path | str) -> tuple[np.ndarray, float | None]:
    """Frames float32 [F, H, W, 3] in [0, 1] and the frame rate stored with them (or None)."""
    path = Path(path)
    if path.is_dir():
        return _load_png_dir(path), None
    if not path.exists():
        raise FileNotFoundError(f"clip not found: {path}")
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        return _load_safetensors(path)
    if suffix == ".npz":
        return _load_npz(path)
    if suffix in VIDEO_SUFFIXES:
        return _load_with_ffmpeg(path)
    raise ValueError(f"{path}: unsupported clip format {suffix!r} (use .safetensors, .npz, a PNG folder or .mp4)")
