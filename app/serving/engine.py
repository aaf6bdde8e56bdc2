"""The API's side of the engine: requests gathered into batches on the event loop, sent to the inference process.

Whenever the process holds no batch whose forward is still running, the loop sends it the oldest waiting job and
every waiting job that can share its forward (same version, labels of the same kind), up to `max_batch` images;
jobs for other versions keep their place in line. Requests that come while a forward runs form the next batch,
so batches grow with the load and a lone request goes at once, with no timer. The process answers each job with
its encoded images (`process.py`), and loads the versions the catalog asks for. A look inside a version's
networks (`look`) is a one-off request: it shares no forward, so it goes at once and the process answers it
between two batches.

If the process dies, the batches it held fail with a 503 and another starts. Tests run the same server loop on
a thread of their own process instead (`in_process=True`): the same code, without a second of torch's import
per app.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import subprocess
import sys
import threading
from collections import deque
from dataclasses import dataclass
from typing import Callable

import numpy as np

from app.errors import InvalidRequest, Unavailable
from app.metrics import record_inference
from app.serving import frames
from app.serving.job import FeatureJob, Job
from app.settings import SECRET_SETTINGS, Settings, without_secrets
from models.checkpoint import CheckpointError
from models.registry import RegistryUnavailable, VersionNotFound

log = logging.getLogger(__name__)

LOAD_TIMEOUT_S = 600.0  # a large model's first load on a slow disk, probes included
STOP_TIMEOUT_S = 5.0
RESPAWN_INTERVAL_S = 1.0  # a process that dies as it starts (a broken install) is not restarted in a tight loop


class InferenceProcessDied(Unavailable):
    """The inference process ended while it held a batch; the request may be sent again."""


@dataclass
class BatchStats:
    batches: int = 0
    images: int = 0
    largest: int = 0


class _Pending:
    """A job waiting for its answer, on the loop."""

    __slots__ = ("version", "job", "future", "rows", "key")

    def __init__(self, version, job: Job, future: asyncio.Future):
        self.version, self.job, self.future, self.rows = version, job, future, job.rows
        self.key = (id(version), job.op, job.batch_key)

    def settle(self, result, error: BaseException | None) -> None:
        if self.future.done():  # the client went away and the request was cancelled
            return
        if error is not None:
            self.future.set_exception(error)
        else:
            self.future.set_result(result)


def take_batch(waiting: deque, max_batch: int, shared: bool) -> list:
    """The oldest waiting job and, when its version may share a forward, every waiting job with the same `key`
    that fits within `max_batch` rows; the others keep their place in line (another version, or too big)."""
    first = waiting.popleft()
    group, size = [first], first.rows
    if shared:
        skipped = []
        while waiting and size < max_batch:
            job = waiting.popleft()
            if job.key == first.key and size + job.rows <= max_batch:
                group.append(job)
                size += job.rows
            else:
                skipped.append(job)
        waiting.extendleft(reversed(skipped))
    return group


class _Replies(asyncio.Protocol):
    """The loop's end of the socket: whole frames to the engine."""

    def __init__(self, engine: Engine):
        self.engine, self.buffer = engine, frames.FrameBuffer()

    def data_received(self, data: bytes) -> None:
        for frame in self.buffer.feed(data):
            self.engine._reply(*frames.decode(frame))

    def connection_lost(self, exc: Exception | None) -> None:
        self.engine._lost()


class Engine:
    """Start and use it on one event loop; `load` and `check` are for other threads (the catalog's)."""

    def __init__(self, settings: Settings, in_process: bool = False):
        self.settings, self.in_process = settings, in_process
        self.max_batch = max(1, settings.batch_max_images)
        self.stats = BatchStats()
        self.restarts = 0
        self._waiting: deque[_Pending] = deque()
        self._forwarding: set[int] = set()  # batches sent whose forward has not ended: at most one
        self._replies: dict[int, Callable[[dict, memoryview], None]] = {}
        self._next_id = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._transport: asyncio.Transport | None = None
        self._process: subprocess.Popen | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._spawned_at = 0.0

    # life cycle

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        await self._spawn()

    async def _spawn(self) -> None:
        ours, theirs = socket.socketpair()
        if self.in_process:
            from app.serving.process import serve  # torch and the runner: only where forwards run

            self._thread = threading.Thread(target=serve, args=(theirs, self.settings), name="inference",
                                            daemon=True)
            self._thread.start()
        else:
            # idle OpenMP threads that sleep at once rather than spin leave the cores to a worker training beside
            # the API (docs/benchmarks.md, serving beside training); an explicit setting is kept
            environment = {"OMP_WAIT_POLICY": "PASSIVE", **without_secrets(os.environ)}
            try:
                self._process = subprocess.Popen(
                    [sys.executable, "-m", "app.serving.process", str(theirs.fileno()), str(os.getpid())],
                    pass_fds=[theirs.fileno()], env=environment)
            finally:
                theirs.close()
            settings = self.settings.model_dump(mode="json", exclude=SECRET_SETTINGS)
            ours.sendall(frames.encode({"settings": settings}))
            log.info("inference process %d started", self._process.pid)
        self._spawned_at = self._loop.time()
        self._transport, _ = await self._loop.create_unix_connection(lambda: _Replies(self), sock=ours)
        self._send_waiting()

    async def stop(self) -> None:
        self._stopping = True
        if self._transport is not None:
            self._transport.close()  # the server ends at the end of its stream
            await asyncio.sleep(0)  # the close happens on the loop's next turn
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, STOP_TIMEOUT_S)
        process, self._process = self._process, None
        if process is not None:
            try:
                await asyncio.to_thread(process.wait, STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:  # stuck in a forward: it holds nothing worth waiting for
                process.kill()
                await asyncio.to_thread(process.wait)

    def describe(self) -> dict:
        """For /readyz."""
        return {"pid": None if self._process is None else self._process.pid, "restarts": self.restarts,
                "max_batch": self.max_batch}

    # requests, on the loop

    async def render(self, version, job: Job | FeatureJob) -> list[bytes]:
        """`job`'s answer (a `Job`'s images as `encoding.encode` makes them; a `FeatureJob`'s features as one
        float32 part), from a forward it may share with other requests for `version`."""
        pending = _Pending(version, job, self._loop.create_future())
        self._waiting.append(pending)
        self._send_waiting()
        return await pending.future

    async def look(self, op: str, version, request: dict | None = None) -> tuple[dict, bytes]:
        """A look inside `version`'s networks (op `filters` or `activations`, with the runner's arguments in
        `request`) -> the process's facts about it and its PNG. InvalidRequest for a layer the generator lacks."""
        header = {**(request or {}), "op": op, "model": version.name, "version": version.version}
        return await self._request(header, _render_error)

    async def project(self, version, image: np.ndarray, label: int | None, steps: int,
                      seconds: float) -> tuple[dict, bytes]:
        """`image` ((H, W, C) uint8) projected into `version`'s latent space by the inference process, beside
        the image batches -> the latent, the losses and the like, and the reconstruction's PNG."""
        header = {"op": "project", "model": version.name, "version": version.version, "shape": list(image.shape),
                  "label": label, "steps": steps, "seconds": seconds}
        return await self._request(header, _render_error, np.ascontiguousarray(image, dtype=np.uint8).tobytes())

    def _send_waiting(self) -> None:
        """The next batch, when the process holds none: it forms from what came during the last forward."""
        if self._waiting and self._transport is not None and not self._forwarding:
            first = self._waiting[0]
            # features are fp32 and need no byte-stable rows; images share a forward where the probes allowed it
            shared = first.version.batchable or isinstance(first.job, FeatureJob)
            group = take_batch(self._waiting, self.max_batch, shared)
            self._send_batch(group)

    def _send_batch(self, group: list[_Pending]) -> None:
        version = group[0].version
        header = {"op": group[0].job.op, "model": version.name, "version": version.version,
                  "jobs": [p.job.header() for p in group]}
        payload = b"".join(array for p in group for array in p.job.arrays())
        images = sum(p.rows for p in group)
        self.stats.batches += 1
        self.stats.images += images
        self.stats.largest = max(self.stats.largest, images)
        record_inference(version.name, images)
        batch_id = self._new_id()
        self._forwarding.add(batch_id)
        self._send(batch_id, header, payload, lambda reply, data: self._returned(batch_id, group, reply, data))

    def _forwarded(self, batch_id: int) -> None:
        """The process ran this batch's forward and encodes it now: the next batch can go."""
        if batch_id in self._forwarding:
            self._forwarding.discard(batch_id)
            self._send_waiting()

    def _returned(self, batch_id: int, group: list[_Pending], reply: dict, payload: memoryview) -> None:
        self._forwarded(batch_id)  # already, unless the batch failed before its forward ended
        if not reply["ok"]:
            error = _render_error(reply)
            for pending in group:
                pending.settle(None, error)
            return
        start = 0
        for pending, lengths in zip(group, reply["parts"]):
            parts = []
            for length in lengths:
                parts.append(bytes(payload[start : start + length]))
                start += length
            pending.settle(parts, None)

    # loads, from other threads

    def load(self, model: str, version: str) -> dict:
        """Wait until the inference process has loaded this version: its metadata and the probes' choices.
        CheckpointError for a broken version, VersionNotFound for a missing one."""
        return self._call({"op": "load", "model": model, "version": version})

    def check(self, model: str, version: str) -> None:
        """Whether a version loads at all, without keeping it (CheckpointError if not)."""
        self._call({"op": "check", "model": model, "version": version})

    def _call(self, header: dict) -> dict:
        if self._loop is None:
            raise RuntimeError("the engine is not started")
        if threading.get_ident() == self._loop_thread:
            raise RuntimeError("a load waits for the event loop: call it from another thread")
        reply, _ = asyncio.run_coroutine_threadsafe(self._request(header, _load_error), self._loop).result(
            LOAD_TIMEOUT_S)
        return reply

    async def _request(self, header: dict, error: Callable[[dict], Exception],
                       payload: bytes = b"") -> tuple[dict, bytes]:
        """One request outside the batches: its reply's header and payload, or `error(reply)` raised."""
        future = self._loop.create_future()

        def settle(reply: dict, payload: memoryview) -> None:
            if future.done():
                return
            if reply["ok"]:
                future.set_result((reply, bytes(payload)))
            else:
                future.set_exception(error(reply))

        self._send(self._new_id(), header, payload, settle)
        return await future

    # the socket

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _send(self, request_id: int, header: dict, payload: bytes,
              on_reply: Callable[[dict, memoryview], None]) -> None:
        if self._transport is None:  # between a process and the next
            on_reply({"ok": False, "kind": "died"}, memoryview(b""))
            return
        header["id"] = request_id
        self._replies[request_id] = on_reply
        self._transport.write(frames.encode(header, payload))

    def _reply(self, header: dict, payload: memoryview) -> None:
        if header.get("forwarded"):
            self._forwarded(header["id"])
            return
        on_reply = self._replies.pop(header["id"], None)
        if on_reply is not None:
            on_reply(header, payload)

    def _lost(self) -> None:
        self._transport = None
        self._forwarding.clear()  # nothing is running any more
        replies, self._replies = self._replies, {}
        for on_reply in replies.values():  # their batches are gone with the process
            on_reply({"ok": False, "kind": "died"}, memoryview(b""))
        if self._stopping or self.in_process:
            return
        code = self._process.poll() if self._process is not None else None
        log.error("the inference process ended (exit code %s); starting another", code)
        self.restarts += 1
        self._loop.create_task(self._respawn())

    async def _respawn(self) -> None:
        await asyncio.sleep(max(0.0, self._spawned_at + RESPAWN_INTERVAL_S - self._loop.time()))
        if not self._stopping:
            await self._spawn()


def _load_error(reply: dict) -> Exception:
    """A load's failure as the domain's exception, for the catalog to tell a broken version from a missing
    one and from an unreadable registry."""
    kind, message = reply["kind"], reply.get("error", "")
    if kind == "invalid":
        return CheckpointError(message)
    if kind == "missing":
        return VersionNotFound(message)
    if kind == "unreadable":
        return RegistryUnavailable(message)
    return _render_error(reply)


def _render_error(reply: dict) -> Exception:
    kind = reply["kind"]
    if kind == "refused":
        return InvalidRequest(reply["field"], reply["error"])
    if kind == "died":
        return InferenceProcessDied("the inference process ended while rendering this request; try again")
    if kind in ("invalid", "missing", "unreadable"):  # e.g. deleted from the registry since it was loaded
        return Unavailable(f"the inference process cannot load this version: {reply.get('error')}")
    return RuntimeError(reply.get("error", "the forward pass failed"))
