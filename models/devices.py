"""Which torch device and precision a process computes on: `auto`, `cpu`, `cuda` or `cuda:N`.

Seeds and random draws always stay on CPU generators (so results never depend on the device); tensors move
to the device afterwards. Mixed precision is chosen here once, from the device, so the app and the worker
agree on what "auto" means.
"""

from __future__ import annotations

import contextlib
import re
from typing import Iterator

import torch

_DEVICE = re.compile(r"^(auto|cpu|cuda(:[0-9]+)?)$")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")


class DeviceUnavailable(ValueError):
    """The configured device is malformed or absent on this machine."""


def check_device_name(setting: str) -> str:
    if not _DEVICE.match(setting):
        raise DeviceUnavailable(f"unknown device {setting!r}; valid: auto, cpu, cuda, cuda:N")
    return setting


def resolve_device(setting: str) -> torch.device:
    """`auto` is CUDA when present, else CPU; an explicit CUDA device that is absent is an error, not a fallback."""
    check_device_name(setting)
    if setting == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(setting)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceUnavailable(f"device {setting!r} was asked for but CUDA is not available here (no GPU "
                                    "visible, or a CPU-only torch build); use 'auto' or 'cpu'")
        index = device.index or 0
        if index >= torch.cuda.device_count():
            raise DeviceUnavailable(f"device {setting!r} was asked for but only {torch.cuda.device_count()} "
                                    "CUDA device(s) are visible")
    return device


def cpu_has_native_bf16() -> bool:
    """Whether oneDNN runs bf16 natively here (AVX-512 BF16, AMX); elsewhere it is emulated, and a bf16
    convolution took 26x as long as fp32 on an AVX2-only CPU (docs/benchmarks.md, Precision)."""
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def slow_precision_warning(device: torch.device, dtype: torch.dtype) -> str | None:
    """A warning for a job that asked for half precision on a CPU that only emulates it."""
    if device.type == "cpu" and dtype in (torch.bfloat16, torch.float16) and not cpu_has_native_bf16():
        name = str(dtype).removeprefix("torch.")
        return (f"precision {name} is emulated on this CPU (no native bf16): training runs many times slower "
                "than in fp32; submit the job with precision fp32 or auto")
    return None


def inference_dtype(device: torch.device, setting: str = "auto") -> torch.dtype:
    """The dtype generators run in: fp32 on CPU; on CUDA bf16 where supported, else fp16."""
    if setting not in PRECISIONS:
        raise ValueError(f"unknown precision {setting!r}; valid: {', '.join(PRECISIONS)}")
    if setting == "auto":
        if device.type != "cuda":
            return torch.float32  # CPU half precision is slower than fp32 on most CPUs
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[setting]


@contextlib.contextmanager
def subnormals_flushed(device: torch.device) -> Iterator[None]:
    """CPU arithmetic on subnormal floats (weights, Adam moments and activations decaying towards zero) takes a
    slow path: a long training run fell to a tenth of its speed after about 5,500 steps. Inside the block they
    are flushed to zero. The setting is the whole process's, so it is restored on the way out."""
    flushed = device.type == "cpu" and torch.set_flush_denormal(True)
    try:
        yield
    finally:
        if flushed:
            torch.set_flush_denormal(False)


def autocast(device: torch.device, dtype: torch.dtype) -> torch.autocast:
    """Autocast on the device's own type; disabled for fp32, so CPU runs are untouched by default."""
    return torch.autocast(device_type=device.type, dtype=dtype if dtype != torch.float32 else None,
                          enabled=dtype != torch.float32)


def training_dtype(device: torch.device, setting: str = "auto", cpu_bf16: bool = False) -> torch.dtype:
    """The autocast dtype of training steps: `auto` is bf16 on CUDA where supported, fp16 (with loss
    scaling) on older GPUs; on CPU bf16 where the caller found it trains as well (`cpu_bf16`) and the CPU runs
    it natively (1.6-2x faster there, docs/benchmarks.md), else fp32."""
    if setting == "auto" and device.type == "cpu":
        return torch.bfloat16 if cpu_bf16 and cpu_has_native_bf16() else torch.float32
    return inference_dtype(device, setting)


if __name__ == "__main__":  # `python -m models.devices SETTING`: exit 2 with the reason if it is unusable here
    import sys

    try:
        print(resolve_device(sys.argv[1]))
    except DeviceUnavailable as e:
        print(e, file=sys.stderr)
        sys.exit(2)
