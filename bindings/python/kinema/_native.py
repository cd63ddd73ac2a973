"""ctypes declarations of libkinema's C interface (include/kinema.h) and the code that finds
and loads the library. The struct definitions below mirror kinema.h field for field; at load
time they are compared with the library's own layout (kinema_struct_layout), so a mismatch is
an error at import instead of silently corrupted memory."""

import ctypes
import ctypes.util
import enum
import os
import pathlib
import subprocess

# MARK: - Enumerations


class Status(enum.IntEnum):
    OK = 0
    RUNNING = 1
    INVALID_ARGUMENT = -1
    IO = -2
    CORRUPT_FILE = -3
    UNSUPPORTED = -4
    SHAPE_MISMATCH = -5
    CANCELLED = -6
    OUT_OF_MEMORY = -7
    MISSING_COMPONENT = -8
    ENCODER = -9
    WRONG_STATE = -10
    INTERNAL = -99


class Phase(enum.IntEnum):
    QUEUED = 0
    ENCODING_TEXT = 1
    DENOISING = 2
    DECODING = 3
    WRITING_VIDEO = 4
    FINISHED = 5
    ENCODING_IMAGE = 6


class Sampler(enum.IntEnum):
    DEFAULT = 0
    UNIPC = 1
    EULER = 2


class OutputFormat(enum.IntEnum):
    AUTO = 0
    MP4 = 1
    PNG = 2
    SAFETENSORS = 3


class LogLevel(enum.IntEnum):
    DEBUG = 0
    INFO = 1
    WARNING = 2
    ERROR = 3


SEED_RANDOM = 2**64 - 1
MAX_LATENT_RANK = 5

# MARK: - Structs and callbacks


class Progress(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_uint32),
        ("phase", ctypes.c_int32),
        ("step", ctypes.c_int32),
        ("total_steps", ctypes.c_int32),
        ("fraction", ctypes.c_double),
        ("elapsed_seconds", ctypes.c_double),
        ("eta_seconds", ctypes.c_double),
    ]


LogCallback = ctypes.CFUNCTYPE(None, ctypes.c_int32, ctypes.c_char_p, ctypes.c_void_p)
ProgressCallback = ctypes.CFUNCTYPE(ctypes.c_bool, ctypes.POINTER(Progress), ctypes.c_void_p)


class ModelParams(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_uint32),
        ("n_threads", ctypes.c_int32),
        ("log_callback", LogCallback),
        ("log_user_data", ctypes.c_void_p),
        ("log_level", ctypes.c_int32),
        ("keep_stored_precision", ctypes.c_bool),
        ("vae_memory_budget_bytes", ctypes.c_int64),
    ]


class Beat(ctypes.Structure):
    _fields_ = [
        ("at_seconds", ctypes.c_double),
        ("prompt", ctypes.c_char_p),
    ]


class Shot(ctypes.Structure):
    _fields_ = [
        ("prompt", ctypes.c_char_p),
        ("duration_seconds", ctypes.c_double),
        ("beats", ctypes.POINTER(Beat)),
        ("beat_count", ctypes.c_int32),
    ]


MAX_SHOTS = 64
MAX_BEATS = 64


class GenerateParams(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_uint32),
        ("prompt", ctypes.c_char_p),
        ("negative_prompt", ctypes.c_char_p),
        ("width", ctypes.c_int32),
        ("height", ctypes.c_int32),
        ("frames", ctypes.c_int32),
        ("duration_seconds", ctypes.c_double),
        ("fps", ctypes.c_double),
        ("steps", ctypes.c_int32),
        ("guidance", ctypes.c_float),
        ("flow_shift", ctypes.c_float),
        ("sampler", ctypes.c_int32),
        ("seed", ctypes.c_uint64),
        ("initial_latents", ctypes.POINTER(ctypes.c_float)),
        ("initial_latents_shape", ctypes.c_int64 * MAX_LATENT_RANK),
        ("initial_latents_rank", ctypes.c_int32),
        ("initial_latents_path", ctypes.c_char_p),
        ("output_path", ctypes.c_char_p),
        ("output_format", ctypes.c_int32),
        ("crf", ctypes.c_int32),
        ("return_frames", ctypes.c_bool),
        ("n_threads", ctypes.c_int32),
        ("progress_callback", ProgressCallback),
        ("progress_user_data", ctypes.c_void_p),
        ("log_callback", LogCallback),
        ("log_user_data", ctypes.c_void_p),
        ("log_level", ctypes.c_int32),
        ("shots", ctypes.POINTER(Shot)),
        ("shot_count", ctypes.c_int32),
        ("beats", ctypes.POINTER(Beat)),
        ("beat_count", ctypes.c_int32),
        ("image_path", ctypes.c_char_p),
        ("image_rgb", ctypes.POINTER(ctypes.c_uint8)),
        ("image_width", ctypes.c_int32),
        ("image_height", ctypes.c_int32),
    ]


class Timings(ctypes.Structure):
    _fields_ = [
        ("text_encoding", ctypes.c_double),
        ("denoising", ctypes.c_double),
        ("decoding", ctypes.c_double),
        ("writing", ctypes.c_double),
        ("total", ctypes.c_double),
    ]


class Result(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_uint32),
        ("owner", ctypes.c_void_p),
        ("output_path", ctypes.c_char_p),
        ("output_format", ctypes.c_int32),
        ("width", ctypes.c_int32),
        ("height", ctypes.c_int32),
        ("frames", ctypes.c_int32),
        ("fps", ctypes.c_double),
        ("steps", ctypes.c_int32),
        ("guidance", ctypes.c_float),
        ("flow_shift", ctypes.c_float),
        ("sampler", ctypes.c_int32),
        ("seed", ctypes.c_uint64),
        ("timings", Timings),
        ("notes", ctypes.c_char_p),
        ("video", ctypes.POINTER(ctypes.c_float)),
        ("video_count", ctypes.c_uint64),
    ]


class ModelInfo(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_uint32),
        ("path", ctypes.c_char_p),
        ("width", ctypes.c_int32),
        ("height", ctypes.c_int32),
        ("frames", ctypes.c_int32),
        ("fps", ctypes.c_double),
        ("steps", ctypes.c_int32),
        ("guidance", ctypes.c_float),
        ("flow_shift", ctypes.c_float),
        ("sampler", ctypes.c_int32),
        ("negative_prompt", ctypes.c_char_p),
    ]


STRUCTS = {
    "kinema_model_params": ModelParams,
    "kinema_generate_params": GenerateParams,
    "kinema_shot": Shot,
    "kinema_beat": Beat,
    "kinema_progress": Progress,
    "kinema_timings": Timings,
    "kinema_result": Result,
    "kinema_model_info": ModelInfo,
}

# MARK: - Functions

_handle = ctypes.c_void_p
_status = ctypes.c_int32

PROTOTYPES = {
    "kinema_version": (ctypes.c_char_p, []),
    "kinema_status_string": (ctypes.c_char_p, [ctypes.c_int32]),
    "kinema_last_error": (ctypes.c_char_p, []),
    "kinema_phase_name": (ctypes.c_char_p, [ctypes.c_int32]),
    "kinema_struct_layout": (_status, [ctypes.c_char_p, ctypes.c_int32, ctypes.POINTER(ctypes.c_char_p),
                                       ctypes.POINTER(ctypes.c_uint64), ctypes.POINTER(ctypes.c_uint64)]),
    "kinema_model_default_params": (ModelParams, []),
    "kinema_model_load": (_status, [ctypes.c_char_p, ctypes.POINTER(ModelParams), ctypes.POINTER(_handle)]),
    "kinema_model_free": (None, [_handle]),
    "kinema_model_info_init": (ModelInfo, []),
    "kinema_model_get_info": (_status, [_handle, ctypes.POINTER(ModelInfo)]),
    "kinema_generate_default_params": (GenerateParams, []),
    "kinema_progress_init": (Progress, []),
    "kinema_result_init": (Result, []),
    "kinema_generate": (_status, [_handle, ctypes.POINTER(GenerateParams), ctypes.POINTER(Result)]),
    "kinema_result_free": (None, [ctypes.POINTER(Result)]),
    "kinema_job_start": (_status, [_handle, ctypes.POINTER(GenerateParams), ctypes.POINTER(_handle)]),
    "kinema_job_status": (_status, [_handle]),
    "kinema_job_progress": (_status, [_handle, ctypes.POINTER(Progress)]),
    "kinema_job_cancel": (_status, [_handle]),
    "kinema_job_wait": (_status, [_handle]),
    "kinema_job_wait_timeout": (_status, [_handle, ctypes.c_double]),
    "kinema_job_result": (_status, [_handle, ctypes.POINTER(Result)]),
    "kinema_job_error": (ctypes.c_char_p, [_handle]),
    "kinema_job_free": (None, [_handle]),
}

# MARK: - Finding and loading the library


class LibraryNotFoundError(OSError):
    """libkinema.so could not be found or loaded."""


class LayoutMismatchError(ImportError):
    """The library's structs differ from these ctypes definitions (a different kinema.h)."""


def _build_folder_candidates():
    here = pathlib.Path(__file__).resolve()
    for parent in here.parents:
        yield parent / ".build" / "release" / "libkinema.so"


def _pkg_config_candidate():
    try:
        out = subprocess.run(["pkg-config", "--variable=libdir", "kinema"], capture_output=True,
                             text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    libdir = out.stdout.strip()
    if out.returncode != 0 or not libdir:
        return None
    return pathlib.Path(libdir) / "libkinema.so"


def find_library():
    """Path of libkinema.so: $KINEMA_LIBRARY, then pkg-config, then the source tree's build
    folder, then the system library path."""
    explicit = os.environ.get("KINEMA_LIBRARY")
    if explicit:
        if not os.path.isfile(explicit):
            raise LibraryNotFoundError(f"KINEMA_LIBRARY is {explicit!r}, which is not a file")
        return explicit
    candidate = _pkg_config_candidate()
    if candidate is not None and candidate.is_file():
        return str(candidate)
    for candidate in _build_folder_candidates():
        if candidate.is_file():
            return str(candidate)
    found = ctypes.util.find_library("kinema")
    if found:
        return found
    raise LibraryNotFoundError(
        "libkinema.so not found: set KINEMA_LIBRARY to its path, install it with "
        "`make install PREFIX=...` so that pkg-config finds kinema.pc, or build it with `make lib`")


def load(path=None):
    """Loads the library, declares its functions and checks the struct layouts."""
    path = path or find_library()
    try:
        lib = ctypes.CDLL(path)
    except OSError as error:
        raise LibraryNotFoundError(f"cannot load {path}: {error}") from error
    for name, (restype, argtypes) in PROTOTYPES.items():
        try:
            function = getattr(lib, name)
        except AttributeError as error:
            raise LibraryNotFoundError(f"{path} lacks {name}; it is not a matching libkinema") from error
        function.restype = restype
        function.argtypes = argtypes
    mismatches = layout_mismatches(lib)
    if mismatches:
        raise LayoutMismatchError(f"{path} does not match this binding: " + "; ".join(mismatches))
    return lib, path


def layout_mismatches(lib):
    """Differences between the ctypes structs and the library's layout, as messages."""
    problems = []
    for c_name, struct in STRUCTS.items():
        name = ctypes.c_char_p()
        offset = ctypes.c_uint64()
        size = ctypes.c_uint64()
        if lib.kinema_struct_layout(c_name.encode(), -1, ctypes.byref(name), ctypes.byref(offset),
                                    ctypes.byref(size)) != 0:
            problems.append(f"the library has no {c_name}")
            continue
        if size.value != ctypes.sizeof(struct):
            problems.append(f"{c_name} is {size.value} bytes in the library, {ctypes.sizeof(struct)} here")
        fields = struct._fields_
        for index, (field_name, field_type) in enumerate(fields):
            if lib.kinema_struct_layout(c_name.encode(), index, ctypes.byref(name), ctypes.byref(offset),
                                        ctypes.byref(size)) != 0:
                problems.append(f"{c_name}.{field_name} is missing in the library")
                break
            descriptor = getattr(struct, field_name)
            lib_name = name.value.decode()
            if (lib_name, offset.value, size.value) != (field_name, descriptor.offset, ctypes.sizeof(field_type)):
                problems.append(f"{c_name} field {index}: library {lib_name} at {offset.value} "
                                f"({size.value} bytes), here {field_name} at {descriptor.offset} "
                                f"({ctypes.sizeof(field_type)} bytes)")
        if lib.kinema_struct_layout(c_name.encode(), len(fields), ctypes.byref(name), None, None) == 0:
            problems.append(f"{c_name} has a field {name.value.decode()} unknown here")
    return problems
