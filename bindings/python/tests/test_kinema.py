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
from conftest import QUICK, SLOW
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


def run_until(job, fraction, timeout=60.0):
    """Polls `job` until its progress reaches `fraction`; returns that progress."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        progress = job.progress()
        if progress.fraction >= fraction or progress.phase == Phase.FINISHED:
            return progress
        time.sleep(0.0005)
    raise AssertionError(f"the job did not reach {fraction:.0%} in {timeout} s")


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
    result = model.generate("a red fox running through snow", seed=11, output=str(out), **dict(QUICK, steps=3))
    assert result.output_path == str(out)
    assert result.output_format == kinema.OutputFormat.SAFETENSORS
    assert (result.width, result.height, result.frames, result.steps, result.seed) == (32, 32, 5, 3, 11)
    info = model.info
    assert (result.fps, result.guidance, result.sampler) == (info.fps, info.guidance, info.sampler)
    assert result.timings.total >= result.timings.denoising >= 0
    header, data = read_safetensors(out)
    assert header["video"]["shape"] == [5, 32, 32, 3]
    assert len(data) == 5 * 32 * 32 * 3 * 4
    assert result.video is None
    assert leftovers(tmp_path) == ["video.safetensors"]


def test_mp4_and_png_outputs(model, tmp_path):
    mp4 = model.generate("to mp4", seed=2, output=str(tmp_path / "v.mp4"), crf=30, **QUICK)
    assert mp4.output_format == kinema.OutputFormat.MP4
    assert (tmp_path / "v.mp4").read_bytes()[4:8] == b"ftyp"
    png = model.generate("to png", seed=2, output=str(tmp_path / "frames") + "/", **QUICK)
    assert png.output_format == kinema.OutputFormat.PNG
    frames = sorted(p.name for p in (tmp_path / "frames").iterdir())
    assert len(frames) == 5 and frames[0] == "frame_00001.png"
    with pytest.raises(KinemaError):
        model.generate("bad crf", output=str(tmp_path / "w.mp4"), crf=52, **QUICK)
    assert not (tmp_path / "w.mp4").exists()


def test_every_request_field_reaches_the_model(model, tmp_path):
    result = model.generate("a prompt", negative_prompt="noise", width=48, height=16, duration=1.0, fps=12,
                            steps=2, guidance=2.5, flow_shift=7, sampler="euler", seed=3,
                            output=str(tmp_path / "v.safetensors"), output_format="safetensors",
                            threads=os.cpu_count() or 1, log_level="debug")
    assert (result.width, result.height, result.fps, result.steps) == (48, 16, 12.0, 2)
    assert result.frames == 13 and any("frames" in note for note in result.notes)
    assert (result.guidance, result.flow_shift, result.sampler) == (2.5, 7.0, kinema.Sampler.EULER)
    assert read_safetensors(tmp_path / "v.safetensors")[0]["video"]["shape"] == [13, 16, 48, 3]
    unconditioned = model.generate("a prompt", seed=3, guidance=2.5, return_frames=True, **QUICK)
    negative = model.generate("a prompt", seed=3, guidance=2.5, return_frames=True, negative_prompt="noise", **QUICK)
    assert bytes(memoryview(unconditioned.video).cast("B")) != bytes(memoryview(negative.video).cast("B"))


def test_shots_make_one_clip_cut_on_their_frames(model, tmp_path):
    out = tmp_path / "shots.safetensors"
    shots = [("a cat on a wall", 0.5), ("a dog on a beach", 0.25)]
    result = model.generate(shots=shots, fps=16, seed=4, width=32, height=32, steps=2, output=str(out),
                            return_frames=True)
    assert result.frames == 12 and result.seed == 4
    assert any("cuts at 0.5 s (frame 8)" in note for note in result.notes)
    assert read_safetensors(out)[0]["video"]["shape"] == [12, 32, 32, 3]
    # The second shot is the prompt's own generation from seed + 1, cut to its 4 frames.
    alone = model.generate("a dog on a beach", frames=5, fps=16, seed=5, width=32, height=32, steps=2,
                           return_frames=True)
    plane = 32 * 32 * 3
    tail = list(memoryview(result.video).cast("B").cast("f"))[8 * plane:]
    head = list(memoryview(alone.video).cast("B").cast("f"))[:4 * plane]
    assert max(abs(a - b) for a, b in zip(tail, head)) <= 1e-6


def test_beats_change_the_prompt_without_a_cut(model):
    quick = dict(width=32, height=32, frames=9, fps=8, steps=2, seed=6, return_frames=True)
    plain = model.generate("a cat on a wall", **quick)
    same = model.generate("a cat on a wall", beats=[(0.5, "a cat on a wall")], **quick)
    beat = model.generate("a cat on a wall", beats=[(0.5, "a dog on a beach")], **quick)
    assert any("beats start at latent frames 3" in note for note in beat.notes)
    raw = lambda r: list(memoryview(r.video).cast("B").cast("f"))
    assert max(abs(a - b) for a, b in zip(raw(plain), raw(same))) <= 1e-6
    assert max(abs(a - b) for a, b in zip(raw(plain), raw(beat))) > 1e-3
    shot = model.generate(shots=[("a cat on a wall", 1.125, [(0.5, "a dog on a beach")])],
                          **dict(quick, frames=None))
    assert shot.frames == 9
    assert max(abs(a - b) for a, b in zip(raw(shot), raw(beat))) <= 1e-6


FIXTURES = pathlib.Path(__file__).resolve().parents[3] / "Tests" / "KinemaTests" / "Fixtures"


def image_case(name):
    """(case, image bytes, width, height, expected frames as floats) of an image-to-video fixture."""
    case = next(c for c in json.loads((FIXTURES / "pipeline" / "image-cases.json").read_text()) if c["name"] == name)
    header, data = read_safetensors(FIXTURES / "pipeline" / f"{name}.safetensors")

    def tensor(key):
        start, end = header[key]["data_offsets"]
        return header[key]["shape"], array.array("f", data[start:end])

    (height, width, _), image = tensor("image")
    latents_shape, latents = tensor("latents")
    _, video = tensor("video")
    return case, bytes(int(v) for v in image), width, height, (latents, latents_shape), video


def test_image_to_video_matches_the_reference_from_every_kind_of_image(model, tmp_path):
    case, rgb, width, height, latents, expected = image_case("image-euler-cfg1-f5")
    options = dict(negative_prompt=case["negative_prompt"], width=case["width"], height=case["height"],
                   frames=case["frames"], steps=case["steps"], guidance=case["guidance"], sampler=case["sampler"],
                   initial_latents=latents, return_frames=True)
    result = model.generate(case["prompt"], image=(rgb, width, height), **options)
    frames = list(memoryview(result.video).cast("B").cast("f"))
    assert max(abs(a - b) for a, b in zip(frames, expected)) <= 1e-3  # diffusers' WanImageToVideoPipeline
    ppm = tmp_path / "start.ppm"  # a format FFmpeg reads that needs no imaging library to write
    ppm.write_bytes(b"P6\n%d %d\n255\n" % (width, height) + rgb)
    from_file = model.generate(case["prompt"], image=str(ppm), **options)
    assert list(memoryview(from_file.video).cast("B").cast("f")) == frames
    numpy = pytest.importorskip("numpy")
    pixels = numpy.frombuffer(rgb, dtype=numpy.uint8).reshape(height, width, 3)
    from_array = model.generate(case["prompt"], image=pixels, **options)
    assert numpy.array_equal(numpy.asarray(from_array.video), numpy.asarray(result.video))
    plain = model.generate(case["prompt"], **options)
    assert max(abs(a - b) for a, b in zip(memoryview(plain.video).cast("B").cast("f"), expected)) > 0.05


def test_image_progress_and_resizing(model):
    reports = []
    gradient = bytes((x * 4) % 256 for x in range(96 * 40 * 3))
    result = model.generate("a cat", image=(gradient, 96, 40), on_progress=reports.append, seed=3,
                            **dict(QUICK, frames=5))
    phases = [r.phase for r in reports]
    assert Phase.ENCODING_IMAGE in phases
    assert phases.index(Phase.ENCODING_IMAGE) > phases.index(Phase.ENCODING_TEXT)
    assert phases.index(Phase.ENCODING_IMAGE) < phases.index(Phase.DENOISING)
    assert any("image 96x40 scaled to cover 32x32 and centre-cropped" in note for note in result.notes)


@pytest.mark.parametrize("image, options, status, words", [
    ((b"\0" * 11, 2, 2), {}, Status.INVALID_ARGUMENT, "needs 12 bytes"),
    ((b"", 0, 2), {}, Status.INVALID_ARGUMENT, "needs 0 bytes"),
    ((b"\0" * 12, 2, 2), dict(frames=1), Status.INVALID_ARGUMENT, "first frame, so the clip (or its first shot) needs at least"),
    ("/nonexistent/start.png", {}, Status.IO, "image file /nonexistent/start.png does not exist"),
    (__file__, {}, Status.CORRUPT_FILE, "cannot open image"),
])
def test_bad_images_raise_kinema_errors(model, image, options, status, words):
    with pytest.raises(KinemaError) as raised:
        model.generate("a cat", image=image, **dict(QUICK, **options))
    assert raised.value.status == status and words in raised.value.message


def test_image_of_the_wrong_type(model):
    with pytest.raises(TypeError):
        model.generate("a cat", image=42, **QUICK)
    with pytest.raises(TypeError):
        model.generate("a cat", image=("pixels", 1, 1), **QUICK)


@pytest.mark.parametrize("beats, words", [
    ([(0.0, "b")], "beats[0].at_seconds"),
    ([(float("nan"), "b")], "beats[0].at_seconds"),
    ([(0.5, None)], "beats[0] has no prompt"),
    ([(0.5, "b"), (0.25, "c")], "after the beat at 0.5 s"),
    ([(0.01 * k, "b") for k in range(1, 66)], "at most 64"),
])
def test_bad_beats_raise_kinema_errors(model, beats, words):
    with pytest.raises(KinemaError) as raised:
        model.generate("a cat", beats=beats, width=32, height=32, frames=9, fps=8, steps=1)
    assert raised.value.status == Status.INVALID_ARGUMENT and words in raised.value.message


@pytest.mark.parametrize("shots, options, words", [
    ([("a", 0.5)], dict(prompt="and a prompt"), "each shot"),
    ([("a", 0.5)], dict(duration=1.0), "no frame count"),
    ([], {}, "shots is empty"),
    ([("a", 0.0)], {}, "duration_seconds"),
    ([("a", float("nan"))], {}, "duration_seconds"),
    ([(None, 1.0)], {}, "no prompt"),
    ([(b"caf\xc3", 1.0)], {}, "shots[0].prompt is not valid UTF-8"),
    ([("a", 0.01)], {}, "shorter than one frame"),
    ([("a", 0.1)] * 65, {}, "at most 64"),
])
def test_bad_shots_raise_kinema_errors(model, shots, options, words):
    with pytest.raises(KinemaError) as raised:
        model.generate(shots=shots, **dict(dict(width=32, height=32, steps=1), **options))
    assert raised.value.status == Status.INVALID_ARGUMENT and words in raised.value.message


def test_seed_makes_output_reproducible(model, tmp_path):
    first = model.generate("same", output=str(tmp_path / "a.safetensors"), **QUICK)
    again = model.generate("same", seed=first.seed, output=str(tmp_path / "b.safetensors"), **QUICK)
    other = model.generate("same", seed=first.seed + 1, output=str(tmp_path / "c.safetensors"), **QUICK)
    a, b, c = (read_safetensors(tmp_path / n)[1] for n in ("a.safetensors", "b.safetensors", "c.safetensors"))
    assert a == b and a != c


def test_frames_come_back_as_numpy(model):
    numpy = pytest.importorskip("numpy")
    result = model.generate("frames", seed=1, return_frames=True, **QUICK)
    assert isinstance(result.video, numpy.ndarray)
    assert result.video.shape == (5, 32, 32, 3) and result.video.dtype == numpy.float32
    assert result.output_path is None
    assert 0.0 <= float(result.video.min()) and float(result.video.max()) <= 1.0


def test_frames_without_numpy(model, monkeypatch):
    monkeypatch.setattr(_api, "_numpy", None)
    result = model.generate("frames", seed=1, return_frames=True, **QUICK)
    assert isinstance(result.video, array.array) and result.video.typecode == "f"
    assert result.video_shape == (5, 32, 32, 3) and len(result.video) == 5 * 32 * 32 * 3


def test_initial_latents_from_memory_and_from_a_file(model, vae_config, tmp_path):
    spatial, temporal = vae_config["scale_factor_spatial"], vae_config["scale_factor_temporal"]
    shape = (vae_config["z_dim"], (5 - 1) // temporal + 1, 32 // spatial, 32 // spatial)
    count = shape[0] * shape[1] * shape[2] * shape[3]
    values = [((i * 37) % 101) / 50.0 - 1.0 for i in range(count)]
    path = tmp_path / "latents.safetensors"
    write_safetensors(path, "latents", shape, values)

    def flat(video):
        return bytes(memoryview(video).cast("B"))

    from_pair = model.generate("p", seed=1, initial_latents=(values, shape), return_frames=True, **QUICK)
    from_file = model.generate("p", seed=1, initial_latents=str(path), return_frames=True, **QUICK)
    batched = model.generate("p", seed=1, initial_latents=(values, (1,) + shape), return_frames=True, **QUICK)
    plain = model.generate("p", seed=1, return_frames=True, **QUICK)
    assert flat(from_pair.video) == flat(from_file.video) == flat(batched.video)
    assert flat(from_pair.video) != flat(plain.video)
    numpy = pytest.importorskip("numpy")
    from_numpy = model.generate("p", seed=1, initial_latents=numpy.array(values, dtype=numpy.float64).reshape(shape),
                                return_frames=True, **QUICK)
    assert numpy.array_equal(from_numpy.video, from_pair.video)


def test_model_info_and_logs(model_dir):
    messages = []
    with kinema.Model(model_dir, on_log=lambda level, text: messages.append((level, text))) as m:
        info = m.info
        assert info.path == model_dir and info.width > 0 and info.height > 0 and info.frames > 0
        assert info.steps > 0 and info.negative_prompt
        job_messages = []
        m.generate("logged", on_log=lambda level, text: job_messages.append(text), **QUICK)
        m.generate("to the model", **QUICK)
    assert any("loading model" in text for _, text in messages)
    assert any("loading transformer" in text for _, text in messages)
    assert any('generating "to the model"' in text for _, text in messages)
    assert not any("logged" in text for _, text in messages)
    assert any('generating "logged"' in text for text in job_messages)


def test_model_options(model_dir):
    with kinema.Model(model_dir, keep_stored_precision=False, vae_memory_budget_bytes=1 << 20) as m:
        a = m.generate("options", seed=5, return_frames=True, **QUICK)
    with kinema.Model(model_dir) as m:
        b = m.generate("options", seed=5, return_frames=True, **QUICK)
    assert a.video_shape == b.video_shape
    with pytest.raises(KinemaError) as raised:
        kinema.Model(model_dir, vae_memory_budget_bytes=1000)
    assert raised.value.status == Status.INVALID_ARGUMENT


# MARK: - Progress and cancelling


def test_progress_callback_sees_every_phase_in_order(model, tmp_path):
    reports = []
    model.generate("progress", output=str(tmp_path / "p.safetensors"), on_progress=reports.append,
                   **dict(QUICK, steps=4))
    phases = [r.phase for r in reports]
    assert phases == sorted(phases)
    assert {Phase.ENCODING_TEXT, Phase.DENOISING, Phase.DECODING, Phase.WRITING_VIDEO} <= set(phases)
    fractions = [r.fraction for r in reports]
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)
    denoising = [r.step for r in reports if r.phase == Phase.DENOISING]
    assert denoising == sorted(denoising) and denoising[-1] == 4
    assert all(r.total_steps == 4 for r in reports if r.phase == Phase.DENOISING)


def test_progress_callback_returning_false_cancels(model, tmp_path):
    out = tmp_path / "x.safetensors"
    calls = []

    def stop_at_second_step(progress):
        calls.append(progress)
        return not (progress.phase == Phase.DENOISING and progress.step == 2)

    with pytest.raises(KinemaError) as raised:
        model.generate("stop", output=str(out), on_progress=stop_at_second_step, **SLOW)
    assert raised.value.status == Status.CANCELLED
    assert calls[-1].phase == Phase.DENOISING and calls[-1].step == 2
    assert leftovers(tmp_path) == []


def test_exception_in_a_callback_cancels_and_propagates(model, tmp_path):
    def explode(progress):
        if progress.phase == Phase.DENOISING:
            raise ValueError("callback failed")

    with pytest.raises(ValueError, match="callback failed"):
        model.generate("boom", output=str(tmp_path / "x.safetensors"), on_progress=explode, **SLOW)
    assert leftovers(tmp_path) == []


def test_job_progress_cancel_wait_result(model, tmp_path):
    out = tmp_path / "job.safetensors"
    with model.start("a job", output=str(out), **SLOW) as job:
        assert job.status == Status.RUNNING and not job.done
        progress = run_until(job, 0.2)
        assert progress.phase == Phase.DENOISING and progress.total_steps == SLOW["steps"]
        assert 0 < progress.fraction < 1 and progress.elapsed_seconds > 0
        assert job.wait(timeout=0) == Status.RUNNING
        started = time.monotonic()
        job.cancel()
        assert job.wait() == Status.CANCELLED
        assert time.monotonic() - started < 0.5  # the next block, not the rest of the run
        assert job.done and job.error
        with pytest.raises(KinemaError) as raised:
            job.result
        assert raised.value.status == Status.CANCELLED
    assert leftovers(tmp_path) == []
    with pytest.raises(KinemaError) as raised:
        job.progress()
    assert raised.value.status == Status.WRONG_STATE


def test_a_finished_job_keeps_its_result(model, tmp_path):
    with model.start("done", seed=4, output=str(tmp_path / "d.safetensors"), **QUICK) as job:
        assert job.wait() == Status.OK
        first = job.result
        assert first.seed == 4 and job.result == first
        assert job.progress().phase == Phase.FINISHED
        job.cancel()  # after the end: nothing happens
        assert job.status == Status.OK


def test_cancel_at_random_moments(model, tmp_path):
    # Moments are drawn as points of progress (a wall-clock delay would land after the end on a
    # fast machine): from before the job's thread starts, through text encoding and denoising,
    # to the middle of decoding into the MP4 writer. The video is written as it is decoded, so
    # a cancel there must also remove the partial file.
    rng = random.Random(1234)
    moments = [0.0, 0.01, 0.5, 0.9, 0.93] + [rng.uniform(0, 0.93) for _ in range(7)]
    for i, moment in enumerate(moments):
        job = model.start("random cancel", output=str(tmp_path / f"r{i}.mp4"), seed=i, **SLOW)
        seen = run_until(job, moment) if moment > 0 else None
        job.cancel()
        assert job.wait() == Status.CANCELLED, f"cancel at {moment:.0%} ({seen})"
        job.close()
        assert leftovers(tmp_path) == [], f"cancel at {moment:.0%} ({seen})"


def test_repeated_cancels_do_not_grow_memory(model, tmp_path):
    rng = random.Random(99)
    busy = dict(QUICK, steps=20)

    def cycle(i):
        out = tmp_path / f"m{i}.safetensors"
        job = model.start("memory", output=str(out), seed=i, **busy)
        time.sleep(rng.uniform(0, 0.003))
        job.cancel()
        status = job.wait()
        job.close()
        if status == Status.OK:  # finished before the cancel arrived
            out.unlink()
        return status

    for i in range(50):
        cycle(i)
    before = rss_bytes()
    statuses = [cycle(i) for i in range(250)]
    growth = rss_bytes() - before
    assert set(statuses) <= {Status.CANCELLED, Status.OK} and statuses.count(Status.CANCELLED) >= 240
    assert growth < 4 * 1024 * 1024, f"RSS grew by {growth / 1e6:.1f} MB over 250 cancelled jobs"
    assert leftovers(tmp_path) == []


def test_closing_a_running_job_cancels_it(model, tmp_path):
    job = model.start("closed early", output=str(tmp_path / "c.safetensors"), **SLOW)
    run_until(job, 0.3)
    started = time.monotonic()
    job.close()
    assert time.monotonic() - started < 0.5
    assert leftovers(tmp_path) == []


# MARK: - Threads


def test_two_threads_sharing_a_model_match_sequential_runs(model, tmp_path):
    runs = [("a river at dawn", 21), ("a city at night", 22)]
    options = dict(QUICK, steps=6)
    for name, (prompt, seed) in zip("ab", runs):
        model.generate(prompt, seed=seed, output=str(tmp_path / f"seq-{name}.safetensors"), **options)
    errors = []

    def run(name, prompt, seed):
        try:
            model.generate(prompt, seed=seed, output=str(tmp_path / f"par-{name}.safetensors"), **options)
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(name, p, s)) for name, (p, s) in zip("ab", runs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for name in "ab":
        assert (tmp_path / f"seq-{name}.safetensors").read_bytes() == (tmp_path / f"par-{name}.safetensors").read_bytes()
    assert (tmp_path / "seq-a.safetensors").read_bytes() != (tmp_path / "seq-b.safetensors").read_bytes()


def test_jobs_outlive_a_closed_model(model_dir, tmp_path):
    m = kinema.Model(model_dir)
    job = m.start("outlives", seed=1, output=str(tmp_path / "o.safetensors"), **dict(QUICK, steps=20))
    m.close()
    assert job.wait() == Status.OK and job.result.seed == 1
    job.close()
    with pytest.raises(KinemaError) as raised:
        m.start("closed", **QUICK)
    assert raised.value.status == Status.WRONG_STATE


# MARK: - Bad input


@pytest.mark.parametrize("options, status, words", [
    (dict(width=-16), Status.INVALID_ARGUMENT, "width"),
    (dict(height=2**31), Status.INVALID_ARGUMENT, "height"),
    (dict(width=33), Status.INVALID_ARGUMENT, "multiple of 16"),
    (dict(frames=6), Status.INVALID_ARGUMENT, "frame count"),
    (dict(frames=5, duration=1.0), Status.INVALID_ARGUMENT, "not both"),
    (dict(fps=float("nan")), Status.INVALID_ARGUMENT, "fps"),
    (dict(fps=500), Status.INVALID_ARGUMENT, "fps"),
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
        model.generate("bad input", **dict(QUICK, **options))
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
        model.generate(prompt, **QUICK)
    assert raised.value.status == Status.INVALID_ARGUMENT and words in raised.value.message


def test_wrong_types_raise_type_errors(model):
    with pytest.raises(TypeError):
        model.generate("p", width="wide")
    with pytest.raises(TypeError):
        model.generate("p", steps=2.5)
    with pytest.raises(TypeError):
        model.generate(12)
    with pytest.raises(TypeError):
        model.generate(shots="a cat, 2 s")
    with pytest.raises(TypeError):
        model.generate(shots=[("a cat",)])
    with pytest.raises(TypeError):
        model.generate("a cat", beats="soon")
    with pytest.raises(TypeError):
        model.generate(shots=[("a cat", 1.0, [(0.5,)])])


def test_loading_errors(tmp_path, monkeypatch):
    with pytest.raises(KinemaError) as raised:
        kinema.Model(str(tmp_path / "missing"))
    assert raised.value.status == Status.IO and "missing" in raised.value.message
    monkeypatch.setenv("KINEMA_MODEL", str(tmp_path / "none"))
    with pytest.raises(KinemaError) as raised:
        kinema.Model()  # an explicit KINEMA_MODEL that names no model is an error, not a fallback
    assert raised.value.status == Status.MISSING_COMPONENT and "KINEMA_MODEL" in raised.value.message
    with pytest.raises(KinemaError) as raised:
        kinema.Model(str(tmp_path))  # a directory, but no model in it
    assert raised.value.status == Status.MISSING_COMPONENT and "model_index.json" in raised.value.message
    with pytest.raises(KinemaError) as raised:
        kinema.Model(str(tmp_path), log_level=9)
    assert raised.value.status == Status.INVALID_ARGUMENT


def test_default_model_from_the_environment(model_dir, monkeypatch):
    monkeypatch.setenv("KINEMA_MODEL", model_dir)
    with kinema.Model() as m:
        assert m.info.path == model_dir


def test_default_model_is_kinema_tiny(monkeypatch):
    # Without a path or KINEMA_MODEL the library finds Kinema-Tiny in the tree it was built in.
    monkeypatch.delenv("KINEMA_MODEL", raising=False)
    expected = os.path.realpath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "models", "kinema-tiny"))
    with kinema.Model() as m:
        assert m.info.path == expected
        assert (m.info.width, m.info.height) == (64, 64)


def test_closed_model_is_an_error(model_dir):
    m = kinema.Model(model_dir)
    m.close()
    m.close()
    with pytest.raises(KinemaError) as raised:
        m.generate("after close", **QUICK)
    assert raised.value.status == Status.WRONG_STATE
