"""Model, Job and Result over the C interface."""

import array
import ctypes
import dataclasses
import enum
import math
import os
import threading
import time
import typing

from . import _native
from ._native import LogLevel, OutputFormat, Phase, Sampler, Status

try:  # numpy is optional: frames come back as numpy arrays when it is installed.
    import numpy as _numpy
except ImportError:  # pragma: no cover - depends on the environment
    _numpy = None

_lock = threading.Lock()
_library = None
_library_path = None


def library():
    """The loaded libkinema (ctypes.CDLL), loading it on first use (see _native.find_library)."""
    global _library, _library_path
    with _lock:
        if _library is None:
            _library, _library_path = _native.load()
        return _library


def library_path():
    """File the library was loaded from."""
    library()
    return _library_path


def version():
    """The library's version, "MAJOR.MINOR.PATCH"."""
    return library().kinema_version().decode()


# MARK: - Errors


class KinemaError(Exception):
    """An error reported by Kinema: `.status` (a Status) and `.message` naming the problem."""

    def __init__(self, status, message):
        try:
            status = Status(status)
        except ValueError:
            pass
        self.status = status
        self.message = message
        name = status.name.lower() if isinstance(status, Status) else str(status)
        super().__init__(f"{message} ({name})" if message else name)


def _last_error(lib):
    text = lib.kinema_last_error()
    return text.decode("utf-8", "replace") if text else ""


def _check(status, lib):
    if status != Status.OK:
        raise KinemaError(status, _last_error(lib))


def _invalid(message):
    return KinemaError(Status.INVALID_ARGUMENT, message)


# MARK: - Values handed back


@dataclasses.dataclass(frozen=True)
class Progress:
    phase: Phase
    step: int
    total_steps: int
    fraction: float
    elapsed_seconds: float
    eta_seconds: typing.Optional[float]

    @classmethod
    def _from_c(cls, c):
        try:
            phase = Phase(c.phase)
        except ValueError:
            phase = c.phase
        return cls(phase, c.step, c.total_steps, c.fraction, c.elapsed_seconds,
                   c.eta_seconds if c.eta_seconds >= 0 else None)


@dataclasses.dataclass(frozen=True)
class Timings:
    text_encoding: float
    denoising: float
    decoding: float
    writing: float
    total: float


@dataclasses.dataclass(frozen=True)
class Result:
    output_path: typing.Optional[str]
    output_format: OutputFormat
    width: int
    height: int
    frames: int
    fps: float
    steps: int
    guidance: float
    flow_shift: float
    sampler: Sampler
    seed: int
    timings: Timings
    notes: typing.List[str]
    #: Frames [frames, height, width, 3], float32 in [0, 1], when return_frames was set: a
    #: numpy array when numpy is installed, else a flat array.array('f') (see video_shape).
    video: typing.Any = None
    video_shape: typing.Optional[typing.Tuple[int, int, int, int]] = None

    @property
    def duration_seconds(self):
        return self.frames / self.fps if self.fps > 0 else 0.0

    @classmethod
    def _from_c(cls, c):
        video = None
        shape = None
        if c.video and c.video_count:
            shape = (c.frames, c.height, c.width, 3)
            count = c.video_count
            if _numpy is not None:
                video = _numpy.ctypeslib.as_array(c.video, shape=(count,)).copy()
                if count == math.prod(shape):
                    video = video.reshape(shape)
            else:
                video = array.array("f")
                video.frombytes(ctypes.string_at(c.video, count * 4))
        notes = c.notes.decode("utf-8", "replace") if c.notes else ""
        return cls(
            output_path=c.output_path.decode("utf-8", "replace") if c.output_path else None,
            output_format=OutputFormat(c.output_format), width=c.width, height=c.height,
            frames=c.frames, fps=c.fps, steps=c.steps, guidance=c.guidance,
            flow_shift=c.flow_shift, sampler=Sampler(c.sampler), seed=c.seed,
            timings=Timings(c.timings.text_encoding, c.timings.denoising, c.timings.decoding,
                            c.timings.writing, c.timings.total),
            notes=notes.split("\n") if notes else [], video=video, video_shape=shape)


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    """The model's directory and the settings it uses for parameters left at their default."""
    path: str
    width: int
    height: int
    frames: int
    fps: float
    steps: int
    guidance: float
    flow_shift: float
    sampler: Sampler
    negative_prompt: str


# MARK: - Turning keyword arguments into kinema_generate_params

_INT32 = (-(2**31), 2**31 - 1)


def _int32(value, name, default=0):
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if not _INT32[0] <= value <= _INT32[1]:
        raise _invalid(f"{name} is {value}, outside the 32-bit range")
    return value


def _number(value, name, default=0.0):
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, not {type(value).__name__}")
    return float(value)


def _text(value, name):
    """UTF-8 bytes for a C string; bytes pass through unchanged (the library checks them)."""
    if value is None:
        return None
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if isinstance(value, str):
        # Lone surrogates are passed on as the invalid UTF-8 they encode to; the library
        # rejects them with a message naming the field.
        value = value.encode("utf-8", "surrogatepass")
    if not isinstance(value, (bytes, bytearray)):
        raise TypeError(f"{name} must be a str or bytes, not {type(value).__name__}")
    if b"\0" in value:
        raise _invalid(f"{name} contains a NUL character")
    return bytes(value)


def _enum(value, enum_type, name):
    if value is None:
        return 0
    if isinstance(value, str):
        try:
            return int(enum_type[value.upper()])
        except KeyError:
            choices = ", ".join(m.name.lower() for m in enum_type if m.value != 0)
            raise _invalid(f"{name} is {value!r}; expected one of {choices}") from None
    return _int32(int(value) if isinstance(value, enum.IntEnum) else value, name)


class _Request:
    """A kinema_generate_params plus every Python object its pointers refer to."""

    def __init__(self, prompt, *, negative_prompt=None, width=None, height=None, frames=None,
                 duration=None, fps=None, steps=None, guidance=None, flow_shift=None, sampler=None,
                 seed=None, initial_latents=None, output=None, output_format=None, crf=None,
                 return_frames=False, threads=None, log_level=LogLevel.INFO, shots=None, beats=None,
                 image=None):
        lib = library()
        p = lib.kinema_generate_default_params()
        self.keep = []
        p.prompt = self._keep(_text(prompt, "prompt"))
        self._shots(p, shots)
        p.beats, p.beat_count = self._beats(beats, "beats")
        if p.prompt is None and not p.shot_count:
            raise _invalid("prompt is required (or shots)")
        p.negative_prompt = self._keep(_text(negative_prompt, "negative_prompt"))
        p.width = _int32(width, "width")
        p.height = _int32(height, "height")
        p.frames = _int32(frames, "frames")
        p.duration_seconds = _number(duration, "duration")
        p.fps = _number(fps, "fps")
        p.steps = _int32(steps, "steps")
        p.guidance = _number(guidance, "guidance", -1.0)
        p.flow_shift = _number(flow_shift, "flow_shift", 0.0)
        p.sampler = _enum(sampler, Sampler, "sampler")
        if seed is None:
            p.seed = _native.SEED_RANDOM
        else:
            if isinstance(seed, bool) or not isinstance(seed, int):
                raise TypeError(f"seed must be an int, not {type(seed).__name__}")
            if not 0 <= seed < _native.SEED_RANDOM:
                raise _invalid(f"seed is {seed}; expected 0 to 2**64 - 2")
            p.seed = seed
        self._latents(p, initial_latents)
        self._image(p, image)
        p.output_path = self._keep(_text(output, "output"))
        p.output_format = _enum(output_format, OutputFormat, "output_format")
        p.crf = _int32(crf, "crf", -1)
        p.return_frames = bool(return_frames)
        p.n_threads = _int32(threads, "threads")
        p.log_level = _enum(log_level, LogLevel, "log_level")
        self.params = p

    def _keep(self, value):
        if value is not None:
            self.keep.append(value)
        return value

    def _shots(self, p, shots):
        if shots is None:
            return
        if isinstance(shots, (str, bytes)):
            raise TypeError("shots must be a sequence of (prompt, seconds) pairs, not a string")
        shots = list(shots)
        if not shots:
            raise _invalid("shots is empty; pass None for a single prompt")
        if len(shots) > _native.MAX_SHOTS:
            raise _invalid(f"{len(shots)} shots; at most {_native.MAX_SHOTS} are allowed")
        array_type = _native.Shot * len(shots)
        c_shots = array_type()
        for k, shot in enumerate(shots):
            try:
                text, seconds, *rest = shot
                if len(rest) > 1:
                    raise ValueError
            except (TypeError, ValueError):
                raise TypeError(f"shots[{k}] must be a (prompt, seconds) or (prompt, seconds, beats) tuple") from None
            c_shots[k].prompt = self._keep(_text(text, f"shots[{k}].prompt"))
            if c_shots[k].prompt is None:
                raise _invalid(f"shots[{k}] has no prompt")
            c_shots[k].duration_seconds = _number(seconds, f"shots[{k}].seconds")
            c_shots[k].beats, c_shots[k].beat_count = self._beats(rest[0] if rest else None, f"shots[{k}].beats")
        self.keep.append(c_shots)
        p.shots = ctypes.cast(c_shots, ctypes.POINTER(_native.Shot))
        p.shot_count = len(shots)

    def _beats(self, beats, name):
        """A kinema_beat array (and its length) for a sequence of (seconds, prompt) pairs."""
        if beats is None:
            return None, 0
        if isinstance(beats, (str, bytes)):
            raise TypeError(f"{name} must be a sequence of (seconds, prompt) pairs, not a string")
        beats = list(beats)
        if len(beats) > _native.MAX_BEATS:
            raise _invalid(f"{name}: {len(beats)} beats; at most {_native.MAX_BEATS} are allowed")
        if not beats:
            return None, 0
        c_beats = (_native.Beat * len(beats))()
        for k, beat in enumerate(beats):
            try:
                seconds, text = beat
            except (TypeError, ValueError):
                raise TypeError(f"{name}[{k}] must be a (seconds, prompt) pair") from None
            c_beats[k].at_seconds = _number(seconds, f"{name}[{k}].seconds")
            c_beats[k].prompt = self._keep(_text(text, f"{name}[{k}].prompt"))
            if c_beats[k].prompt is None:
                raise _invalid(f"{name}[{k}] has no prompt")
        self.keep.append(c_beats)
        return ctypes.cast(c_beats, ctypes.POINTER(_native.Beat)), len(beats)

    def _image(self, p, image):
        """image_path for a path; image_rgb for a uint8 [H, W, 3] numpy array or an
        (rgb_bytes, width, height) tuple."""
        if image is None:
            return
        if isinstance(image, (str, bytes, os.PathLike)):
            p.image_path = self._keep(_text(image, "image"))
            return
        if _numpy is not None and isinstance(image, _numpy.ndarray):
            if image.ndim != 3 or image.shape[2] != 3 or image.dtype != _numpy.uint8:
                raise _invalid(f"image array has shape {image.shape} and dtype {image.dtype}; expected uint8 [H, W, 3]")
            height, width = image.shape[0], image.shape[1]
            data = _numpy.ascontiguousarray(image)
            pointer = data.ctypes.data_as(ctypes.POINTER(ctypes.c_uint8))
            self.keep.append(data)
        else:
            try:
                pixels, width, height = image
            except (TypeError, ValueError):
                raise TypeError("image must be a path, a uint8 [H, W, 3] numpy array "
                                "or an (rgb_bytes, width, height) tuple") from None
            if not isinstance(pixels, (bytes, bytearray, memoryview)):
                raise TypeError(f"image pixels must be bytes, not {type(pixels).__name__}")
            width, height = _int32(width, "image width"), _int32(height, "image height")
            if width < 1 or height < 1 or len(pixels) != width * height * 3:
                raise _invalid(f"image of {width}x{height} needs {max(width, 0) * max(height, 0) * 3} bytes of RGB, "
                               f"got {len(pixels)}")
            buffer = (ctypes.c_uint8 * len(pixels)).from_buffer_copy(pixels)
            pointer = ctypes.cast(buffer, ctypes.POINTER(ctypes.c_uint8))
            self.keep.append(buffer)
        p.image_rgb = pointer
        p.image_width = width
        p.image_height = height

    def _latents(self, p, latents):
        if latents is None:
            return
        if isinstance(latents, (str, bytes, os.PathLike)):
            p.initial_latents_path = self._keep(_text(latents, "initial_latents"))
            return
        if _numpy is not None and isinstance(latents, _numpy.ndarray):
            data = _numpy.ascontiguousarray(latents, dtype=_numpy.float32)
            shape = data.shape
            pointer = data.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
            self.keep.append(data)
        else:
            try:
                values, shape = latents
            except (TypeError, ValueError):
                raise TypeError("initial_latents must be a numpy array, a (values, shape) pair "
                                "or a path to a .safetensors file") from None
            shape = tuple(shape)
            if isinstance(values, array.array) and values.typecode == "f":
                buffer = (ctypes.c_float * len(values)).from_buffer(values)
            else:
                values = list(values)
                buffer = (ctypes.c_float * len(values))(*values)
            expected = math.prod(shape) if shape else 0
            if len(buffer) != expected:
                raise _invalid(f"initial_latents has {len(buffer)} values but shape {shape} needs {expected}")
            pointer = ctypes.cast(buffer, ctypes.POINTER(ctypes.c_float))
            self.keep.append(buffer)
        if not 1 <= len(shape) <= _native.MAX_LATENT_RANK:
            raise _invalid(f"initial_latents has {len(shape)} dimensions; expected 1 to {_native.MAX_LATENT_RANK}")
        p.initial_latents = pointer
        p.initial_latents_rank = len(shape)
        for i, dimension in enumerate(shape):
            p.initial_latents_shape[i] = int(dimension)


# MARK: - Jobs


class Job:
    """A generation running on a background thread (Model.start)."""

    def __init__(self, model, request, on_progress, on_log):
        self._lib = library()
        self._model = model  # kept alive while the job runs
        self._handle = ctypes.c_void_p()
        self._callback_error = None
        self._on_progress = on_progress
        self._on_log = on_log
        p = request.params
        if on_progress is not None:
            self._progress_callback = _native.ProgressCallback(self._progress_trampoline)
            p.progress_callback = self._progress_callback
        if on_log is not None:
            self._log_callback = _native.LogCallback(self._log_trampoline)
            p.log_callback = self._log_callback
        _check(self._lib.kinema_job_start(model._live_handle(), ctypes.byref(p), ctypes.byref(self._handle)),
               self._lib)

    def _progress_trampoline(self, progress, _user_data):
        try:
            keep_going = self._on_progress(Progress._from_c(progress.contents))
            return keep_going is None or bool(keep_going)
        except BaseException as error:  # noqa: BLE001 - re-raised by wait()/result
            if self._callback_error is None:
                self._callback_error = error
            return False

    def _log_trampoline(self, level, message, _user_data):
        try:
            self._on_log(LogLevel(level), message.decode("utf-8", "replace") if message else "")
        except BaseException as error:  # noqa: BLE001
            if self._callback_error is None:
                self._callback_error = error

    def _live_handle(self):
        if not self._handle:
            raise KinemaError(Status.WRONG_STATE, "the job has been closed")
        return self._handle

    @property
    def status(self):
        """Status.RUNNING until the job ends, then its final status."""
        return Status(self._lib.kinema_job_status(self._live_handle()))

    @property
    def done(self):
        return self.status != Status.RUNNING

    def progress(self):
        """The job's phase, step, overall fraction, elapsed time and ETA."""
        c = self._lib.kinema_progress_init()
        _check(self._lib.kinema_job_progress(self._live_handle(), ctypes.byref(c)), self._lib)
        return Progress._from_c(c)

    def cancel(self):
        """Asks the job to stop; returns at once. The job then ends with Status.CANCELLED."""
        _check(self._lib.kinema_job_cancel(self._live_handle()), self._lib)

    def wait(self, timeout=None):
        """Waits for the job (at most `timeout` seconds) and returns its status (Status.RUNNING
        on timeout). Waits in short slices, so Ctrl-C interrupts it."""
        handle = self._live_handle()
        deadline = None if timeout is None else time.monotonic() + max(0.0, float(timeout))
        while True:
            slice_seconds = 0.1 if deadline is None else max(0.0, min(0.1, deadline - time.monotonic()))
            status = self._lib.kinema_job_wait_timeout(handle, slice_seconds)
            if status != Status.RUNNING:
                return Status(status) if status in Status._value2member_map_ else status
            if deadline is not None and time.monotonic() >= deadline:
                return Status.RUNNING

    @property
    def error(self):
        """Why the job failed ("" while it runs and after success)."""
        text = self._lib.kinema_job_error(self._live_handle())
        return text.decode("utf-8", "replace") if text else ""

    @property
    def result(self):
        """Waits for the job and returns its Result; raises KinemaError when it failed or was
        cancelled (or the exception a callback raised)."""
        status = self.wait()
        if self._callback_error is not None:
            raise self._callback_error
        if status != Status.OK:
            raise KinemaError(status, self.error)
        c = self._lib.kinema_result_init()
        _check(self._lib.kinema_job_result(self._live_handle(), ctypes.byref(c)), self._lib)
        return Result._from_c(c)

    def close(self):
        """Frees the job; a running job is cancelled and waited for first."""
        handle, self._handle = self._handle, ctypes.c_void_p()
        if handle:
            self._lib.kinema_job_free(handle)
        self._model = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001 - nothing to report to during interpreter teardown
            pass


# MARK: - Models


class Model:
    """A loaded model. Immutable and thread-safe: several threads may generate at once."""

    def __init__(self, path=None, *, threads=0, on_log=None, log_level=LogLevel.INFO,
                 keep_stored_precision=True, vae_memory_budget_bytes=0):
        """Loads the diffusers-layout model directory `path` ($KINEMA_MODEL when None).
        `on_log(LogLevel, str)` receives loading messages and those of generations that have no
        on_log of their own. keep_stored_precision keeps 16-bit weights in 16 bits (half the
        memory) instead of widening them at load; vae_memory_budget_bytes (0: default) bounds
        the VAE decoder's memory per frame before it decodes in tiles."""
        self._lib = library()
        self._handle = ctypes.c_void_p()
        params = self._lib.kinema_model_default_params()
        params.n_threads = _int32(threads, "threads")
        params.keep_stored_precision = bool(keep_stored_precision)
        if isinstance(vae_memory_budget_bytes, bool) or not isinstance(vae_memory_budget_bytes, int):
            raise TypeError("vae_memory_budget_bytes must be an int")
        if not 0 <= vae_memory_budget_bytes < 2**63:
            raise _invalid(f"vae_memory_budget_bytes is {vae_memory_budget_bytes}; expected 0 or more")
        params.vae_memory_budget_bytes = vae_memory_budget_bytes
        params.log_level = _enum(log_level, LogLevel, "log_level")
        self._on_log = on_log
        self._log_callback = None
        if on_log is not None:
            self._log_callback = _native.LogCallback(self._log_trampoline)
            params.log_callback = self._log_callback
        encoded = _text(path, "path")
        _check(self._lib.kinema_model_load(encoded, ctypes.byref(params), ctypes.byref(self._handle)), self._lib)

    def _log_trampoline(self, level, message, _user_data):
        try:
            self._on_log(LogLevel(level), message.decode("utf-8", "replace") if message else "")
        except Exception:  # noqa: BLE001 - a logging failure must not stop a generation
            pass

    def _live_handle(self):
        if not self._handle:
            raise KinemaError(Status.WRONG_STATE, "the model has been closed")
        return self._handle

    @property
    def info(self):
        c = self._lib.kinema_model_info_init()
        _check(self._lib.kinema_model_get_info(self._live_handle(), ctypes.byref(c)), self._lib)
        return ModelInfo(path=c.path.decode("utf-8", "replace"), width=c.width, height=c.height,
                         frames=c.frames, fps=c.fps, steps=c.steps, guidance=c.guidance,
                         flow_shift=c.flow_shift, sampler=Sampler(c.sampler),
                         negative_prompt=c.negative_prompt.decode("utf-8", "replace"))

    def start(self, prompt=None, *, on_progress=None, on_log=None, **options):
        """Starts a generation on a background thread and returns its Job. Options as for
        generate(). Invalid options raise KinemaError here; errors found while generating
        surface from job.wait() / job.result."""
        return Job(self, _Request(prompt, **options), on_progress, on_log)

    def generate(self, prompt=None, *, on_progress=None, on_log=None, **options):
        """Generates one video and returns its Result.

        Give a prompt, or shots: a sequence of (prompt, seconds) pairs for a clip of several
        shots, each generated from its own prompt and cut to the next on the exact frame where
        it ends (shot k uses seed + k; the clip is as long as its shots, so no frames or
        duration). beats, a sequence of (seconds, prompt) pairs, change the prompt at those
        times without a cut; a shot takes its own as a third item, (prompt, seconds, beats),
        with times from the shot's start. image, a path (PNG, JPEG, ...), a uint8 [H, W, 3] numpy
        array or an (rgb_bytes, width, height) tuple, becomes the first frame and the rest is
        generated to follow it (scaled to cover the frame, centre-cropped). Options: negative_prompt, width, height, frames (4k+1) or duration (seconds), fps,
        steps, guidance, flow_shift, sampler ("unipc" or "euler"), seed, initial_latents (numpy
        array, (values, shape) pair, or .safetensors path), output (.mp4, .safetensors, or a
        directory/ for PNG frames), output_format, crf, return_frames, threads, log_level.
        `on_progress(Progress)` runs on the generating thread; returning False cancels.
        `on_log(LogLevel, str)` receives this generation's messages. Ctrl-C cancels the
        generation cleanly before KeyboardInterrupt propagates.
        """
        job = self.start(prompt, on_progress=on_progress, on_log=on_log, **options)
        try:
            try:
                job.wait()
            except BaseException:
                job.cancel()
                job.wait()
                raise
            return job.result
        finally:
            job.close()

    def close(self):
        """Releases the model (running jobs keep it alive until they end)."""
        handle, self._handle = self._handle, ctypes.c_void_p()
        if handle:
            self._lib.kinema_model_free(handle)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001
            pass
