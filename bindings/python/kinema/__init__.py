"""Kinema: text-to-video generation with Wan2.1-family models on the CPU.

A ctypes binding of libkinema.so (include/kinema.h), standard library only; frames come back
as numpy arrays when numpy is installed.

    import kinema
    model = kinema.Model("/models/Wan2.1-T2V-1.3B-Diffusers")  # or Model() with $KINEMA_MODEL
    result = model.generate("a red fox running through snow", output="fox.mp4",
                            on_progress=lambda p: print(p.phase.name, p.step, p.total_steps))

    job = model.start("a lighthouse in a storm", output="storm.mp4")
    job.progress(); job.cancel(); job.wait(); job.result
"""

from ._api import (
    Job,
    KinemaError,
    Model,
    ModelInfo,
    Progress,
    Result,
    Timings,
    library,
    library_path,
    version,
)
from ._native import (
    LayoutMismatchError,
    LibraryNotFoundError,
    LogLevel,
    OutputFormat,
    Phase,
    Sampler,
    Status,
)

__all__ = [
    "Job",
    "KinemaError",
    "LayoutMismatchError",
    "LibraryNotFoundError",
    "LogLevel",
    "Model",
    "ModelInfo",
    "OutputFormat",
    "Phase",
    "Progress",
    "Result",
    "Sampler",
    "Status",
    "Timings",
    "library",
    "library_path",
    "version",
]
