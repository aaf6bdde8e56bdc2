"""The inference process: runs the API's forward passes and encodes their PNGs, in a Python of its own.

Started by `app/process_engine.py` as `python -m app.inference_process FD PARENT_PID`, with one end of a
socket pair as FD, whose first frame carries the API's settings (secrets left out). It reads batches (a
version, its latents or seeds and labels, which jobs want PNGs) and answers each with its images, until the API closes the socket; for images larger than 32x32 RGB it first
says that the forward has ended, so that the next batch comes while these are encoded. Versions load through
a pool of their own, prepared by the probes the thread engine uses (same precision, same batch-invariant
computation, same bytes), and kept in an LRU of the same size; `load` requests let the API wait for a version
here before serving it, and tell it what the probes chose.

Why a process: in one process the event loop and the inference thread took Python's interpreter lock from
each other twice or more per batch, and on a small model those waits, not the work, capped the answers per
second at about half the HTTP ceiling (docs/benchmarks.md). Here the forward, the seeded latents' PNGs and the
lock are this process's own.
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import socket
import sys
import threading

import numpy as np
import torch

from app import frames
from app.inference import forward_images, preparer, serving_device
from app.pool import GeneratorPool, LoadedModel, ModelUnavailable
from app.settings import Settings
from models import images as imaging
from models.latents import seed_latents, truncate
from models.logs import configure_logging
from models.processes import die_with_parent
from models.registry import RegistryUnavailable

log = logging.getLogger("app.inference_process")

# Images up to this size (32x32 RGB) are encoded on the forward's thread, in microseconds each: handing a batch
# of 28x28 images to the encoder thread served the shipped model 0.77x, the two threads taking Python's lock
# from each other; 64x64 RGB images (0.08 ms each here) are encoded beside the next forward (docs/benchmarks.md)
INLINE_ENCODING_BYTES = 32 * 32 * 3
LABEL_DTYPES = {"int64": np.int64, "float32": np.float32}


def pool_for(settings: Settings) -> GeneratorPool:
    device, dtype = serving_device(settings)
    prepare = preparer(settings.precision_for, settings.precision_tolerance, settings.channels_last,
                       settings.inference_graph)
    return GeneratorPool(settings.registry(), device,
                         settings.cache_size, dtype, prepare=prepare, keep_generators=False)


def summary(model: LoadedModel) -> dict:
    """A load's reply: the probes' choices, which the API takes as its own (`ProcessEngine.prepare_there`)."""
    return model.prepared.choices()  # this process's pool always prepares


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


def encoded(header: dict, images: np.ndarray) -> tuple[dict, bytes]:
    """Each job's part of a batch's images: a PNG for a single-image job that asked for one, else raw rows."""
    parts, lengths, start = [], [], 0
    for n, png in zip(header["rows"], header["png"]):
        chunk = images[start : start + n]
        start += n
        part = imaging.encode_png(chunk[0]) if png else np.ascontiguousarray(chunk).tobytes()
        parts.append(part)
        lengths.append(len(part))
    return {"ok": True, "shape": list(images.shape[1:]), "parts": lengths}, b"".join(parts)


def failure(header: dict, error: Exception) -> bytes:
    if isinstance(error, (ModelUnavailable, RegistryUnavailable)):
        reply = {"ok": False, "kind": "unavailable", "error": str(error)}
    else:  # one bad batch must not end the process; its requests get the error
        log.error("batch failed: %s", error, exc_info=error)
        reply = {"ok": False, "kind": "failed", "error": f"{type(error).__name__}: {error}"}
    return frames.encode(reply | {"id": header["id"]})


class Server:
    """Forwards on the calling thread. Small images are encoded right after their forward; larger ones on an
    encoder thread, so that the next forward starts while their PNGs are made."""

    def __init__(self, sock: socket.socket, pool: GeneratorPool):
        self.sock, self.pool = sock, pool
        self._send_lock = threading.Lock()
        self._finishing: queue.SimpleQueue[tuple[dict, np.ndarray] | None] = queue.SimpleQueue()
        self._encoder = threading.Thread(target=self._encode, name="encoder", daemon=True)

    def run(self) -> None:
        self._encoder.start()
        try:
            while (frame := frames.read_frame(self.sock)) is not None:
                self._handle(*frames.decode(frame))
        finally:
            self._finishing.put(None)
            self._encoder.join()

    def _handle(self, header: dict, payload: memoryview) -> None:
        try:
            model = self.pool.get(header["model"], header["version"])
            if header["op"] == "load":
                self._send(frames.encode({"ok": True, "id": header["id"], **summary(model)}))
                return
            images = forward_images(model, *batch_inputs(model, header, payload))
        except Exception as e:
            self._send(failure(header, e))
            return
        if images[0].nbytes <= INLINE_ENCODING_BYTES:
            reply, data = encoded(header, images)
            self._send(frames.encode(reply | {"id": header["id"]}, data))
            return
        # the API may send the next batch now: it arrives while this one is encoded
        self._send(frames.encode({"id": header["id"], "forwarded": True}))
        self._finishing.put((header, images))

    def _encode(self) -> None:
        while (item := self._finishing.get()) is not None:
            header, images = item
            try:
                reply, data = encoded(header, images)
                frame = frames.encode(reply | {"id": header["id"]}, data)
            except Exception as e:
                frame = failure(header, e)
            try:
                self._send(frame)
            except OSError:  # the API went away; the reading thread finds out too
                return

    def _send(self, frame: bytes) -> None:
        with self._send_lock:
            self.sock.sendall(frame)


def serve(sock: socket.socket, settings: Settings) -> None:
    torch.set_num_threads(settings.torch_thread_count(reserved_cores=1))
    if settings.switch_interval_ms > 0:  # the encoder thread hands Python's lock back to the forwards promptly
        sys.setswitchinterval(settings.switch_interval_ms / 1000)
    Server(sock, pool_for(settings)).run()


def main() -> None:
    fd, parent_pid = int(sys.argv[1]), int(sys.argv[2])
    die_with_parent(parent_pid)  # the socket's end also ends it, but not while a forward runs
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in a terminal: the API stops this process itself
    sock = socket.socket(fileno=fd)
    first = frames.read_frame(sock)  # the API's settings, sent over the socket rather than on a command line
    if first is None:
        os._exit(0)
    settings = Settings.model_validate(frames.decode(first)[0]["settings"])
    configure_logging(settings.log_format, settings.log_level)
    try:
        serve(sock, settings)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the API went away
    finally:
        sock.close()
    os._exit(0)  # skip interpreter teardown: nothing is left to flush, and torch's can take a second


if __name__ == "__main__":
    main()
