"""The inference process: runs the API's forward passes and encodes their PNGs, in a Python of its own.

Started by `app/process_engine.py` as `python -m app.inference_process FD PARENT_PID SETTINGS_JSON`, with one end of a
socket pair as FD. It reads batches (a version, its latents and labels, which jobs want PNGs) and answers
each with its images, in order, until the API closes the socket. Versions load through a pool of their own,
prepared by the same probes as the API's (same precision, same batch-invariant computation, same bytes), and
kept in an LRU of the same size; `load` requests let the API wait for a version here before serving it.

Why a process: in one process the event loop and the inference thread took Python's interpreter lock from
each other twice or more per batch, and on a small model those waits, not the work, capped the answers per
second at about half the HTTP ceiling (docs/benchmarks.md). Here the forward, the seeded latents' PNGs and the
lock are this process's own.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys

import numpy as np
import torch

from app import frames
from app.inference import forward_images, preparer, serving_device, serving_threads
from app.pool import GeneratorPool, LoadedModel, ModelUnavailable, registry_from
from app.settings import Settings
from models import images as imaging
from models.latents import seed_latents, truncate
from models.logs import configure_logging
from models.processes import die_with_parent
from models.registry import RegistryUnavailable

log = logging.getLogger("app.inference_process")

LABEL_DTYPES = {"int64": np.int64, "float32": np.float32}


def pool_for(settings: Settings) -> GeneratorPool:
    device, dtype = serving_device(settings)
    prepare = preparer(settings.precision_for, settings.precision_tolerance, settings.channels_last,
                       settings.inference_graph)
    return GeneratorPool(registry_from(settings.registry_dir, settings.shipped_registry_dir), device,
                         settings.cache_size, dtype, prepare=prepare)


def summary(model: LoadedModel) -> dict:
    prepared = model.prepared
    return {"precision": prepared.precision if prepared else "fp32", "batchable": prepared.batchable if prepared else True}


def batch_inputs(model: LoadedModel, header: dict, payload: memoryview) -> tuple[torch.Tensor, torch.Tensor | None]:
    """A batch's latents and labels: drawn here from seeds, or as the API sent them."""
    if "seeds" in header:
        latents = seed_latents(header["seeds"], model.latent_dim)
        truncations = header["truncations"]
        for truncation in set(truncations) - {1.0}:  # each row as truncate() makes it for its request alone
            rows = [i for i, t in enumerate(truncations) if t == truncation]
            latents[rows] = truncate(latents[rows], truncation)
        labels = header["labels"]
        return latents, None if labels is None else torch.tensor(labels["indices"], dtype=torch.int64)
    count = sum(header["rows"])
    latent_bytes = count * model.latent_dim * 4
    latents = torch.from_numpy(np.frombuffer(payload[:latent_bytes], dtype=np.float32).reshape(count, model.latent_dim))
    labels = header["labels"]
    if labels is None:
        return latents, None
    numpy_dtype = LABEL_DTYPES[labels["dtype"]]
    return latents, torch.from_numpy(np.frombuffer(payload[latent_bytes:], dtype=numpy_dtype).reshape(labels["shape"]))


def run_batch(pool: GeneratorPool, header: dict, payload: memoryview) -> tuple[dict, bytes]:
    model = pool.get(header["model"], header["version"])
    images = forward_images(model, *batch_inputs(model, header, payload))
    parts, lengths, start = [], [], 0
    for n, png in zip(header["rows"], header["png"]):
        chunk = images[start : start + n]
        start += n
        part = imaging.encode_png(chunk[0]) if png else np.ascontiguousarray(chunk).tobytes()
        parts.append(part)
        lengths.append(len(part))
    return {"ok": True, "shape": list(images.shape[1:]), "parts": lengths}, b"".join(parts)


def answer(pool: GeneratorPool, header: dict, payload: memoryview) -> bytes:
    """The reply frame to one request, carrying its id."""
    try:
        if header["op"] == "load":
            reply, data = {"ok": True, **summary(pool.get(header["model"], header["version"]))}, b""
        else:
            reply, data = run_batch(pool, header, payload)
    except (ModelUnavailable, RegistryUnavailable) as e:
        reply, data = {"ok": False, "kind": "unavailable", "error": str(e)}, b""
    except Exception as e:  # one bad batch must not end the process; its requests get the error
        log.exception("forward pass failed")
        reply, data = {"ok": False, "kind": "failed", "error": f"{type(e).__name__}: {e}"}, b""
    reply["id"] = header["id"]
    return frames.encode(reply, data)


def serve(sock: socket.socket, settings: Settings) -> None:
    torch.set_num_threads(serving_threads(settings.torch_threads))
    pool = pool_for(settings)
    while (frame := frames.read_frame(sock)) is not None:
        header, payload = frames.decode(frame)
        sock.sendall(answer(pool, header, payload))


def main() -> None:
    fd, parent_pid, settings_json = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    die_with_parent(parent_pid)  # the socket's end also ends it, but not while a forward runs
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in a terminal: the API stops this process itself
    settings = Settings.model_validate_json(settings_json)
    configure_logging(settings.log_format, settings.log_level)
    sock = socket.socket(fileno=fd)
    try:
        serve(sock, settings)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the API went away
    finally:
        sock.close()
    os._exit(0)  # skip interpreter teardown: nothing is left to flush, and torch's can take a second


if __name__ == "__main__":
    main()
