"""Tests of the Python binding and, through it, of libkinema's C interface."""
import array
import ctypes
import json
import os
import pathlib
import random
import struct
import threading
import time

import pytest

import kinema
from kinema import KinemaError, Phase, Status, _api, _native

# MARK: - Helpers


def read_safetensors(path):
    """(header dict, raw data bytes) of a .safetensors file."""
    data = pathlib.Path(path).read_bytes()
    (length,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8:8 + length]), data[8 + length:]


def write_safetensors(path, name, shape, values):
    header = json.dumps({name: {"dtype": "F32", "shape": list(shape), "data_offsets": [0, 4 * len(values)]}})
    header += " " * ((8 - len(header) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(header)))
        f.write(header.encode())
        f.write(array.array("f", values).tobytes())


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def leftovers(directory):
    return sorted(p.name for p in pathlib.Path(directory).iterdir())


# MARK: - The library


def test_library_version_matches_header():
    header = (pathlib.Path(__file__).resolve().parents[3] / "include" / "kinema.h").read_text()
    numbers = [line.split()[2] for line in header.splitlines()
               if line.startswith("#define KINEMA_VERSION_") and len(line.split()) == 3]
    assert kinema.version() == ".".join(numbers)


def test_ctypes_structs_match_the_library_layout():
    lib = kinema.library()
    assert _native.layout_mismatches(lib) == []
    for c_name, struct_type in _native.STRUCTS.items():
        size = ctypes.c_uint64()
        assert lib.kinema_struct_layout(c_name.encode(), -1, None, None, ctypes.byref(size)) == 0
        assert size.value == ctypes.sizeof(struct_type), c_name


def test_a_wrong_ctypes_definition_is_detected(monkeypatch):
    class Shifted(ctypes.Structure):
        _fields_ = [("struct_size", ctypes.c_uint32), ("phase", ctypes.c_int64)] + _native.Progress._fields_[2:]

    monkeypatch.setitem(_native.STRUCTS, "kinema_progress", Shifted)
    problems = _native.layout_mismatches(kinema.library())
    assert problems and all("kinema_progress" in p for p in problems)


def test_status_strings_and_phase_names():
    lib = kinema.library()
    assert lib.kinema_status_string(Status.CANCELLED) == b"cancelled"
    assert lib.kinema_status_string(12345) == b"unknown status"
    assert lib.kinema_phase_name(Phase.DENOISING) == b"denoising"


def test_last_error_is_per_thread():
    lib = kinema.library()
    assert lib.kinema_struct_layout(b"main thread struct", -1, None, None, None) == Status.INVALID_ARGUMENT
    seen = []

    def other():
        lib.kinema_struct_layout(b"other thread struct", -1, None, None, None)
        seen.append(lib.kinema_last_error())

    thread = threading.Thread(target=other)
    thread.start()
    thread.join()
    assert b"other thread struct" in seen[0]
    assert b"main thread struct" in lib.kinema_last_error()


def test_library_search_order(tmp_path, monkeypatch):
    monkeypatch.setenv("KINEMA_LIBRARY", str(tmp_path / "missing.so"))
    with pytest.raises(kinema.LibraryNotFoundError, match="KINEMA_LIBRARY"):
        _native.find_library()
    # pkg-config: a kinema.pc whose libdir holds libkinema.so.
    libdir = tmp_path / "prefix" / "lib"
    (libdir / "pkgconfig").mkdir(parents=True)
    (libdir / "libkinema.so").symlink_to(kinema.library_path())
    (libdir / "pkgconfig" / "kinema.pc").write_text(
        f"libdir={libdir}\nName: kinema\nDescription: test\nVersion: 0\nLibs: -L${{libdir}} -lkinema\n")
    monkeypatch.delenv("KINEMA_LIBRARY")
    monkeypatch.setenv("PKG_CONFIG_PATH", str(libdir / "pkgconfig"))
    assert _native.find_library() == str(libdir / "libkinema.so")


# MARK: - Generating


def test_generate_writes_the_file_and_reports_what_it_used(model, tmp_path):
    out = tmp_path / "video.safetensors"
    result = model.generate("a red fox running through snow", seed=11, output=str(out), steps=3)
    assert result.output_path == str(out)
    assert result.output_format == kinema.OutputFormat.SAFETENSORS
    assert (result.width, result.height, result.frames, result.steps, result.seed) == (32, 32, 5, 3, 11)
    assert result.fps == 8.0 and result.guidance == 5.0 and result.sampler == kinema.Sampler.UNIPC
    assert result.timings.total >= result.timings.denoising >= 0
    header, data = read_safetensors(out)
    assert header["video"]["shape"] == [5, 32, 32, 3]
    assert len(data) == 5 * 32 * 32 * 3 * 4
    assert result.video is None
    assert leftovers(tmp_path) == ["video.safetensors"]


def test_mp4_and_png_outputs(model, tmp_path):
    mp4 = model.generate("to mp4", seed=2, output=str(tmp_path / "v.mp4"), crf=30)
    assert mp4.output_format == kinema.OutputFormat.MP4
    assert (tmp_path / "v.mp4").read_bytes()[4:8] == b"ftyp"
    png = model.generate("to png", seed=2, output=str(tmp_path / "frames") + "/")
    assert png.output_format == kinema.OutputFormat.PNG
    assert sorted(p.name for p in (tmp_path / "frames").iterdir())[0] == "frame_00001.png"
    assert len(list((tmp_path / "frames").iterdir())) == 5
    with pytest.raises(KinemaError):
        model.generate("bad crf", output=str(tmp_path / "w.mp4"), crf=52)
    assert not (tmp_path / "w.mp4").exists()


def test_every_request_field_reaches_the_engine(model, tmp_path):
    result = model.generate("a prompt", negative_prompt="noise", width=48, height=16, duration=1.0, fps=12,
                            steps=2, guidance=2.5, flow_shift=7, sampler="euler", seed=3,
                            output=str(tmp_path / "v.safetensors"), output_format="safetensors",
                            threads=1, log_level="debug")
    assert (result.width, result.height, result.fps, result.steps) == (48, 16, 12.0, 2)
    assert result.frames == 13 and result.notes and "rounded" in result.notes[0]
    assert (result.guidance, result.flow_shift, result.sampler) == (2.5, 7.0, kinema.Sampler.EULER)


def test_seed_makes_output_reproducible(model, tmp_path):
    first = model.generate("same", output=str(tmp_path / "a.safetensors"))
    again = model.generate("same", seed=first.seed, output=str(tmp_path / "b.safetensors"))
    other = model.generate("same", seed=first.seed + 1, output=str(tmp_path / "c.safetensors"))
    a, b, c = (read_safetensors(tmp_path / n)[1] for n in ("a.safetensors", "b.safetensors", "c.safetensors"))
    assert a == b and a != c


def test_frames_come_back_as_numpy(model):
    numpy = pytest.importorskip("numpy")
    result = model.generate("frames", seed=1, return_frames=True)
    assert isinstance(result.video, numpy.ndarray)
    assert result.video.shape == (5, 32, 32, 3) and result.video.dtype == numpy.float32
    assert result.output_path is None
    assert 0.0 <= float(result.video.min()) and float(result.video.max()) <= 1.0


def test_frames_without_numpy(model, monkeypatch):
    monkeypatch.setattr(_api, "_numpy", None)
    result = model.generate("frames", seed=1, return_frames=True)
    assert isinstance(result.video, array.array) and result.video.typecode == "f"
    assert result.video_shape == (5, 32, 32, 3) and len(result.video) == 5 * 32 * 32 * 3


def test_initial_latents_from_memory_and_from_a_file(model, tmp_path):
    shape = (16, 2, 4, 4)
    values = [((i * 37) % 101) / 101.0 for i in range(16 * 2 * 4 * 4)]
    path = tmp_path / "latents.safetensors"
    write_safetensors(path, "latents", shape, values)
    from_pair = model.generate("p", seed=1, initial_latents=(values, shape), return_frames=True)
    from_file = model.generate("p", seed=1, initial_latents=str(path), return_frames=True)
    plain = model.generate("p", seed=1, return_frames=True)
    assert list(from_pair.video.flat if hasattr(from_pair.video, "flat") else from_pair.video) == \
        list(from_file.video.flat if hasattr(from_file.video, "flat") else from_file.video)
    assert bytes(memoryview(from_pair.video).cast("B")) != bytes(memoryview(plain.video).cast("B"))
    numpy = pytest.importorskip("numpy")
    from_numpy = model.generate("p", seed=1, initial_latents=numpy.array(values, dtype=numpy.float64).reshape(shape),
                                return_frames=True)
    assert numpy.array_equal(from_numpy.video, from_pair.video)


def test_model_info_and_logs(model_dirs):
    messages = []
    with kinema.Model(model_dirs["fast"], on_log=lambda level, text: messages.append((level, text))) as m:
        info = m.info
        assert (info.path, info.width, info.height, info.frames) == (model_dirs["fast"], 32, 32, 5)
        assert info.negative_prompt == "blurry, static"
        job_messages = []
        m.generate("logged", on_log=lambda level, text: job_messages.append(text))
        m.generate("to the model")
    assert any("loading model" in text for _, text in messages)
    assert any('generating "to the model"' in text for _, text in messages)
    assert not any("logged" in text for _, text in messages)
    assert any('generating "logged"' in text for text in job_messages)


# MARK: - Progress and cancelling


def test_progress_callback_sees_every_phase_in_order(model, tmp_path):
    reports = []
    model.generate("progress", output=str(tmp_path / "p.safetensors"), on_progress=reports.append)
    phases = [r.phase for r in reports]
    assert phases == sorted(phases)
    assert {Phase.ENCODING_TEXT, Phase.DENOISING, Phase.DECODING, Phase.WRITING_VIDEO} <= set(phases)
    fractions = [r.fraction for r in reports]
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)
    denoising = [r for r in reports if r.phase == Phase.DENOISING]
    assert [r.step for r in denoising] == [1, 2, 3, 4] and all(r.total_steps == 4 for r in denoising)


def test_progress_callback_returning_false_cancels(slow_model, tmp_path):
    out = tmp_path / "x.safetensors"
    calls = []

    def stop_at_second_step(progress):
        calls.append(progress)
        return not (progress.phase == Phase.DENOISING and progress.step == 2)

    with pytest.raises(KinemaError) as raised:
        slow_model.generate("stop", output=str(out), on_progress=stop_at_second_step)
    assert raised.value.status == Status.CANCELLED
    assert calls[-1].phase == Phase.DENOISING and calls[-1].step == 2
    assert leftovers(tmp_path) == []


def test_exception_in_a_callback_cancels_and_propagates(slow_model, tmp_path):
    def explode(progress):
        if progress.phase == Phase.DENOISING:
            raise ValueError("callback failed")

    with pytest.raises(ValueError, match="callback failed"):
        slow_model.generate("boom", output=str(tmp_path / "x.safetensors"), on_progress=explode)
    assert leftovers(tmp_path) == []


def test_job_progress_cancel_wait_result(slow_model, tmp_path):
    out = tmp_path / "job.safetensors"
    with slow_model.start("a job", output=str(out)) as job:
        assert job.status == Status.RUNNING and not job.done
        time.sleep(0.1)
        progress = job.progress()
        assert progress.phase in (Phase.ENCODING_TEXT, Phase.DENOISING)
        assert 0 < progress.fraction < 1 and progress.elapsed_seconds > 0
        assert job.wait(timeout=0) == Status.RUNNING
        started = time.monotonic()
        job.cancel()
        assert job.wait() == Status.CANCELLED
        assert time.monotonic() - started < 0.5  # within a block, not a whole run
        assert job.done and "cancelled" in job.error
        with pytest.raises(KinemaError) as raised:
            job.result
        assert raised.value.status == Status.CANCELLED
    assert leftovers(tmp_path) == []
    with pytest.raises(KinemaError) as raised:
        job.progress()
    assert raised.value.status == Status.WRONG_STATE


def test_a_finished_job_keeps_its_result(model, tmp_path):
    with model.start("done", seed=4, output=str(tmp_path / "d.safetensors")) as job:
        assert job.wait() == Status.OK
        first = job.result
        assert first.seed == 4 and job.result == first
        assert job.progress().phase == Phase.FINISHED
        job.cancel()  # after the end: nothing happens
        assert job.status == Status.OK


def test_cancel_at_random_moments(slow_model, tmp_path):
    rng = random.Random(1234)
    for i in range(12):
        out = tmp_path / f"r{i}.safetensors"
        job = slow_model.start("random cancel", output=str(out))
        time.sleep(rng.uniform(0, 0.3))  # the run takes at least 0.4 s
        job.cancel()
        assert job.wait() == Status.CANCELLED
        job.close()
    assert leftovers(tmp_path) == []


def test_repeated_cancels_do_not_grow_memory(medium_model, tmp_path):
    rng = random.Random(99)

    def cycle(i):
        job = medium_model.start("memory", output=str(tmp_path / f"m{i}.safetensors"), seed=i)
        time.sleep(rng.uniform(0, 0.004))
        job.cancel()
        status = job.wait()
        job.close()
        return status

    for i in range(60):
        cycle(i)
    before = rss_bytes()
    statuses = [cycle(i) for i in range(300)]
    growth = rss_bytes() - before
    assert statuses.count(Status.CANCELLED) >= 290
    assert growth < 4 * 1024 * 1024, f"RSS grew by {growth / 1e6:.1f} MB over 300 cancelled jobs"
    assert leftovers(tmp_path) == []


def test_closing_a_running_job_cancels_it(slow_model, tmp_path):
    job = slow_model.start("closed early", output=str(tmp_path / "c.safetensors"))
    time.sleep(0.05)
    started = time.monotonic()
    job.close()
    assert time.monotonic() - started < 0.5
    assert leftovers(tmp_path) == []


# MARK: - Threads


def test_two_threads_sharing_a_model_match_sequential_runs(model_dirs, tmp_path):
    with kinema.Model(model_dirs["medium"]) as shared:
        prompts = [("a river at dawn", 21), ("a city at night", 22)]
        for name, (prompt, seed) in zip("ab", prompts):
            shared.generate(prompt, seed=seed, output=str(tmp_path / f"seq-{name}.safetensors"))
        errors = []

        def run(name, prompt, seed):
            try:
                shared.generate(prompt, seed=seed, output=str(tmp_path / f"par-{name}.safetensors"))
            except Exception as error:  # noqa: BLE001 - reported below
                errors.append(error)

        threads = [threading.Thread(target=run, args=(name, p, s)) for name, (p, s) in zip("ab", prompts)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
    for name in "ab":
        assert (tmp_path / f"seq-{name}.safetensors").read_bytes() == (tmp_path / f"par-{name}.safetensors").read_bytes()
    assert (tmp_path / "seq-a.safetensors").read_bytes() != (tmp_path / "seq-b.safetensors").read_bytes()


def test_jobs_outlive_a_closed_model(model_dirs, tmp_path):
    m = kinema.Model(model_dirs["slow"])
    job = m.start("outlives", seed=1, output=str(tmp_path / "o.safetensors"))
    m.close()
    assert job.wait() == Status.OK and job.result.seed == 1
    job.close()
    with pytest.raises(KinemaError) as raised:
        m.start("closed")
    assert raised.value.status == Status.WRONG_STATE


# MARK: - Bad input


@pytest.mark.parametrize("options, status, words", [
    (dict(width=-16), Status.INVALID_ARGUMENT, "width"),
    (dict(height=2**31), Status.INVALID_ARGUMENT, "height"),
    (dict(width=33), Status.INVALID_ARGUMENT, "multiples of 16"),
    (dict(frames=6), Status.INVALID_ARGUMENT, "4k+1"),
    (dict(frames=5, duration=1.0), Status.INVALID_ARGUMENT, "not both"),
    (dict(fps=float("nan")), Status.INVALID_ARGUMENT, "fps"),
    (dict(guidance=float("inf")), Status.INVALID_ARGUMENT, "guidance"),
    (dict(steps=-1), Status.INVALID_ARGUMENT, "steps"),
    (dict(sampler="ddim"), Status.INVALID_ARGUMENT, "sampler"),
    (dict(sampler=7), Status.INVALID_ARGUMENT, "sampler"),
    (dict(seed=-1), Status.INVALID_ARGUMENT, "seed"),
    (dict(crf=99), Status.INVALID_ARGUMENT, "crf"),
    (dict(threads=-2), Status.INVALID_ARGUMENT, "n_threads"),
    (dict(output="video.unknown"), Status.INVALID_ARGUMENT, "cannot tell the format"),
    (dict(output="/nonexistent-dir/v.safetensors"), Status.IO, "nonexistent-dir"),
    (dict(output_format="mp4"), Status.INVALID_ARGUMENT, "output_path is NULL"),
    (dict(negative_prompt=b"\xff\xfe"), Status.INVALID_ARGUMENT, "negative_prompt"),
    (dict(initial_latents=([1.0, 2.0], (2,))), Status.SHAPE_MISMATCH, "initial latents"),
    (dict(initial_latents=([1.0, float("nan")], (2,))), Status.INVALID_ARGUMENT, "NaN"),
    (dict(initial_latents=([1.0, 2.0, 3.0], (2,))), Status.INVALID_ARGUMENT, "needs 2"),
    (dict(initial_latents="/nonexistent/latents.safetensors"), Status.IO, "does not exist"),
])
def test_bad_options_raise_kinema_errors(model, options, status, words):
    with pytest.raises(KinemaError) as raised:
        model.generate("bad input", **options)
    assert raised.value.status == status
    assert words in raised.value.message


@pytest.mark.parametrize("prompt, words", [
    (b"caf\xc3", "prompt is not valid UTF-8"),
    ("lone \ud800 surrogate", "prompt is not valid UTF-8"),
    ("nul \0 inside", "prompt contains a NUL"),
    (None, "prompt"),
])
def test_bad_prompts_raise_kinema_errors(model, prompt, words):
    with pytest.raises(KinemaError) as raised:
        model.generate(prompt)
    assert raised.value.status == Status.INVALID_ARGUMENT and words in raised.value.message


def test_wrong_types_raise_type_errors(model):
    with pytest.raises(TypeError):
        model.generate("p", width="wide")
    with pytest.raises(TypeError):
        model.generate("p", steps=2.5)
    with pytest.raises(TypeError):
        model.generate(12)


def test_loading_errors(tmp_path, monkeypatch):
    with pytest.raises(KinemaError) as raised:
        kinema.Model(str(tmp_path / "missing"))
    assert raised.value.status == Status.IO and "missing" in raised.value.message
    monkeypatch.delenv("KINEMA_MODEL", raising=False)
    with pytest.raises(KinemaError) as raised:
        kinema.Model()
    assert raised.value.status == Status.MISSING_COMPONENT and "KINEMA_MODEL" in raised.value.message
    with pytest.raises(KinemaError) as raised:
        kinema.Model(str(tmp_path))  # a directory, but no model in it
    assert raised.value.status == Status.UNSUPPORTED
    with pytest.raises(KinemaError) as raised:
        kinema.Model(str(tmp_path), log_level=9)
    assert raised.value.status == Status.INVALID_ARGUMENT


def test_default_model_from_the_environment(model_dirs, monkeypatch):
    monkeypatch.setenv("KINEMA_MODEL", model_dirs["fast"])
    with kinema.Model() as m:
        assert m.info.path == model_dirs["fast"]


def test_closed_model_is_an_error(model_dirs):
    m = kinema.Model(model_dirs["fast"])
    m.close()
    m.close()
    with pytest.raises(KinemaError) as raised:
        m.generate("after close")
    assert raised.value.status == Status.WRONG_STATE
