"""The inference process: runs the API's forward passes and encodes their images, in a Python of its own.

Started by `engine.Engine` as `python -m app.serving.process FD PARENT_PID`, with one end of a socket pair as
FD, whose first frame carries the API's settings (secrets left out: a command line is readable by every local
user). It answers frames until the API closes the socket:
- `load`: a version, loaded and prepared by the runner, answered with its metadata and the probes' choices;
- `check`: whether a version loads at all (one hidden by a newer one, which the API still reports on);
- `render`: a batch of jobs of one version, answered with each job's encoded images. When the batch's encoding
  is more than a few small PNGs, the process first says the forward has ended, so that the next batch comes
  while these are encoded on the encoder thread;
- `features`: a batch of images for one version's discriminator, answered with each job's features;
- `filters` and `activations`: one look inside a version's networks, answered with its facts and a PNG;
- `project`: one image's latent searched for (models/projection.py) on a thread of its own, so that batches
  keep flowing during its seconds of descent.
Why a process: the API's event loop then never waits for Python's lock while a forward or an encoding runs.
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import socket
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from app.serving import frames
from app.serving.job import JOBS, FeatureJob, Job
from app.serving.runner import Runner, encode_jobs
from app.settings import Settings
from models.checkpoint import CheckpointError
from models.devices import resolve_device
from models.images import encode_png
from models.inspection import UnknownLayer
from models.logs import configure_logging
from models.names import InvalidName
from models.processes import die_with_parent
from models.registry import VersionNotFound

log = logging.getLogger(__name__)

# a batch of single PNGs up to 32x32 RGB is encoded right after its forward, in microseconds each: handing those
# to the encoder thread made the two threads take Python's lock from each other (docs/benchmarks.md, Engine)
INLINE_ENCODING_BYTES = 32 * 32 * 3
# how long the encoder thread may keep Python's lock while the forward's thread waits for it (CPython: 5 ms)
SWITCH_INTERVAL_S = 0.0001


def failure(request_id: int, error: Exception) -> bytes:
    """The answer to a request that failed: what kind of failure, for the API to map to its status."""
    if isinstance(error, UnknownLayer):  # the client's mistake: the API answers 422 naming the field
        return frames.encode({"id": request_id, "ok": False, "kind": "refused", "field": "layer", "error": str(error)})
    if isinstance(error, CheckpointError):
        kind = "invalid"
    elif isinstance(error, (VersionNotFound, InvalidName)):
        kind = "missing"
    elif isinstance(error, OSError):
        kind = "unreadable"
    else:  # one bad batch must not end the process; its requests get the error
        log.error("request failed: %s", error, exc_info=error)
        kind, error = "failed", f"{type(error).__name__}: {error}"
    return frames.encode({"id": request_id, "ok": False, "kind": kind, "error": str(error)})


def answer(request_id: int, jobs: list[Job], images: np.ndarray) -> bytes:
    return answer_parts(request_id, encode_jobs(jobs, images))


def answer_parts(request_id: int, answers: list[list[bytes]]) -> bytes:
    """Each job's parts, in job order: their lengths in the header, their bytes in the payload."""
    parts = [part for job_parts in answers for part in job_parts]
    return frames.encode({"id": request_id, "ok": True, "parts": [[len(p) for p in a] for a in answers]},
                         b"".join(parts))


# one-off looks inside a version's networks: (runner, request header) -> (picture, facts)
LOOKS = {
    "filters": lambda runner, h: runner.filters(h["model"], h["version"]),
    "activations": lambda runner, h: runner.activations(h["model"], h["version"], h.get("layer"), h.get("seed"),
                                                        h.get("latent"), h.get("label")),
}


class Server:
    """Forwards on the calling thread; encodings that take longer than a few small PNGs on an encoder thread,
    so that the next forward starts while they are made."""

    def __init__(self, sock: socket.socket, runner: Runner):
        self.sock, self.runner = sock, runner
        self._send_lock = threading.Lock()
        self._encoding: queue.SimpleQueue[tuple[int, list[Job], np.ndarray] | None] = queue.SimpleQueue()
        self._encoder = threading.Thread(target=self._encode, name="encoder", daemon=True)
        self._projections = ThreadPoolExecutor(max_workers=1, thread_name_prefix="projection")

    def run(self) -> None:
        self._encoder.start()
        try:
            while (frame := frames.read_frame(self.sock)) is not None:
                self._handle(*frames.decode(frame))
        finally:
            self._encoding.put(None)
            self._encoder.join()
            self._projections.shutdown(wait=False, cancel_futures=True)

    def _handle(self, header: dict, payload: memoryview) -> None:
        request_id = header["id"]
        try:
            if header["op"] == "check":
                self.runner.check(header["model"], header["version"])
                self._send(frames.encode({"id": request_id, "ok": True}))
                return
            if header["op"] == "load":
                self._send(frames.encode({"id": request_id, "ok": True,
                                          **self.runner.load(header["model"], header["version"])}))
                return
            if header["op"] == "project":
                # seconds of descent: on a thread of its own, so that image batches keep flowing meanwhile
                self._projections.submit(self._project, request_id, header, payload)
                return
            if header["op"] in LOOKS:
                image, facts = LOOKS[header["op"]](self.runner, header)
                self._send(frames.encode({"id": request_id, "ok": True, **facts}, encode_png(image)))
                return
            jobs, offset, kind = [], 0, JOBS[header["op"]]
            for job_header in header["jobs"]:
                job, offset = kind.from_wire(job_header, payload, offset)
                jobs.append(job)
            if kind is FeatureJob:
                features = self.runner.features(header["model"], header["version"], jobs)
                self._send(answer_parts(request_id, [[rows.tobytes()] for rows in features]))
                return
            images = self.runner.images(self.runner.get(header["model"], header["version"]), jobs)
        except Exception as e:
            self._send(failure(request_id, e))
            return
        if all(job.output == "png" and job.rows == 1 for job in jobs) and images[0].nbytes <= INLINE_ENCODING_BYTES:
            self._send(answer(request_id, jobs, images))
            return
        self._send(frames.encode({"id": request_id, "forwarded": True}))  # the next batch may come now
        self._encoding.put((request_id, jobs, images))

    def _project(self, request_id: int, header: dict, payload: memoryview) -> None:
        try:
            image = np.frombuffer(payload, dtype=np.uint8).reshape(header["shape"])
            reconstruction, facts = self.runner.project(header["model"], header["version"], image, header.get("label"),
                                                        header["steps"], header["seconds"])
            frame = frames.encode({"id": request_id, "ok": True, **facts}, encode_png(reconstruction))
        except Exception as e:
            frame = failure(request_id, e)
        try:
            self._send(frame)
        except OSError:  # the API went away
            pass

    def _encode(self) -> None:
        while (item := self._encoding.get()) is not None:
            try:
                frame = answer(*item)
            except Exception as e:
                frame = failure(item[0], e)
            try:
                self._send(frame)
            except OSError:  # the API went away; the reading thread finds out too
                return

    def _send(self, frame: bytes) -> None:
        with self._send_lock:
            self.sock.sendall(frame)


def serve(sock: socket.socket, settings: Settings) -> None:
    """Answer the API on `sock` until it closes it: in this process, or on a thread of a test's."""
    runner = Runner(settings.registry(), resolve_device(settings.device), settings.cache_size, settings.precision_for)
    try:
        Server(sock, runner).run()
    except (BrokenPipeError, ConnectionResetError):
        pass  # the API went away
    finally:
        sock.close()


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
    torch.set_num_threads(settings.torch_thread_count(reserved_cores=1))  # the API's event loop keeps a core
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    serve(sock, settings)
    os._exit(0)  # skip interpreter teardown: nothing is left to flush, and torch's can take a second


if __name__ == "__main__":
    main()
