"""Micro-batching with the forward passes in an inference process (`app/inference_process.py`).

The event loop gathers batches as `app/batcher.py` does (the oldest request and every waiting one for the same
version, whenever the engine has room for a batch) and writes each to the inference process over a socket
pair; the process answers with the images, or with the PNGs of single-image requests, encoded there. The
event loop is then the only thread of the API that runs Python under load, so it never waits for Python's
lock, and the forward and the encoding run beside it on another core without taking the lock from it: on
the shipped model, in one process the two threads' waits for each other, not their work, had capped the
answers per second (docs/benchmarks.md).

Versions are named, not sent: the process loads them from the same registry and prepares them, and the API
pool's load of a version waits until the process has it too and takes its probes' choices (`prepare_there`),
so a hot swap never makes a request wait for a load. If the process dies, the batches it held fail with a
503 and a new one starts.
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
from typing import Any, Callable

import numpy as np
import torch

from app import frames
from app.engine import BatchStats, labels_kind, settle, take_batch
from app.errors import Unavailable
from app.inference import Prepared
from app.metrics import record_inference
from app.pool import LoadedModel
from app.settings import SECRET_SETTINGS, Settings, without_secrets

log = logging.getLogger(__name__)

PRELOAD_TIMEOUT_S = 600.0
STOP_TIMEOUT_S = 5.0
RESPAWN_INTERVAL_S = 1.0


class InferenceProcessDied(Unavailable):
    """The inference process ended while it held a batch; the request may be sent again."""


class _Job:
    """One request's images: given latents, or a seed drawn in the inference process (a seed URL)."""

    __slots__ = ("model", "rows", "latents", "labels", "seed", "truncation", "png", "future")

    def __init__(self, model: LoadedModel, future: asyncio.Future, png: bool, latents: torch.Tensor | None = None,
                 labels: torch.Tensor | int | None = None, seed: int | None = None, truncation: float = 1.0):
        self.model, self.future, self.png = model, future, png
        self.latents, self.labels, self.seed, self.truncation = latents, labels, seed, truncation
        self.rows = 1 if latents is None else len(latents)

    @property
    def key(self) -> tuple:
        """Jobs of equal keys share a forward: same version, and inputs of the same kind."""
        if self.seed is not None:
            return id(self.model), "seed", self.labels is None
        return id(self.model), labels_kind(self.labels)

    def settle(self, result: Any, error: BaseException | None) -> None:
        settle(self.future, result, error)


class _Replies(asyncio.Protocol):
    """The loop's end of the socket: whole frames to the engine."""

    def __init__(self, engine: ProcessEngine):
        self.engine, self.buffer = engine, frames.FrameBuffer()

    def data_received(self, data: bytes) -> None:
        for frame in self.buffer.feed(data):
            self.engine._reply(*frames.decode(frame))

    def connection_lost(self, exc: Exception | None) -> None:
        self.engine._lost()


class ProcessEngine:
    """The API's micro-batcher when forwards run in an inference process. Start and use it on one event loop."""

    def __init__(self, settings: Settings, max_batch: int = 16, enabled: bool = True):
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.settings, self.max_batch, self.enabled = settings, max_batch, enabled
        self.stats = BatchStats()
        self.restarts = 0
        self._waiting: deque[_Job] = deque()
        self._forwarding: set[int] = set()  # batches sent whose forward has not ended: at most one
        self._replies: dict[int, Callable[[dict, memoryview | None], None]] = {}
        self._next_id = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._transport: asyncio.Transport | None = None
        self._process: subprocess.Popen | None = None
        self._stopping = False
        self._spawned_at = 0.0
        self._loop_thread: int | None = None

    # life cycle

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        await self._spawn()

    async def _spawn(self) -> None:
        ours, theirs = socket.socketpair()
        # idle OpenMP threads that sleep at once rather than spin leave the cores to a worker training beside
        # the API (docs/benchmarks.md, serving beside training); an explicit setting is kept
        environment = {"OMP_WAIT_POLICY": "PASSIVE", **without_secrets(os.environ)}
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "app.inference_process", str(theirs.fileno()), str(os.getpid())],
                pass_fds=[theirs.fileno()], env=environment)
        finally:
            theirs.close()
        # the configuration travels over the socket: a command line is readable by every local user
        ours.sendall(frames.encode({"settings": self.settings.model_dump(mode="json", exclude=SECRET_SETTINGS)}))
        self._spawned_at = self._loop.time()
        self._transport, _ = await self._loop.create_unix_connection(lambda: _Replies(self), sock=ours)
        log.info("inference process %d started", self._process.pid)
        self._send_waiting()

    async def stop(self) -> None:
        self._stopping = True
        if self._transport is not None:
            self._transport.close()  # the process ends at the end of its stream
            await asyncio.sleep(0)  # the close happens on the loop's next turn
        process, self._process = self._process, None
        if process is not None:
            try:
                await asyncio.to_thread(process.wait, STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:  # stuck in a forward: it holds nothing worth waiting for
                process.kill()
                await asyncio.to_thread(process.wait)

    def describe(self) -> dict:
        """For /readyz."""
        return {"engine": "process", "pid": None if self._process is None else self._process.pid,
                "restarts": self.restarts, "batching": self.enabled, "max_batch": self.max_batch}

    def prepare_there(self, loaded: LoadedModel) -> Prepared:
        """The pool's prepare hook: the version loads in the inference process, which probes and prepares it,
        and its choices (precision, batching, graph) become the API's description of it, so the pool serves a
        version only once the process has it. The API never runs the generator, so it does not prepare it a
        second time: a hot swap ran the probes and the trace in both processes, and the API kept a graph it
        never called."""
        return Prepared.elsewhere(self.preload(loaded.name, loaded.version), "the inference process")

    # requests

    async def render(self, model: LoadedModel, latents: torch.Tensor, labels: torch.Tensor | None) -> np.ndarray:
        """(n, latent_dim) latents -> (n, H, W, C) uint8 images."""
        return await self._submit(_Job(model, self._future(), False, latents, labels))

    async def render_png(self, model: LoadedModel, latent: torch.Tensor, labels: torch.Tensor | None) -> bytes:
        """One latent -> its image as PNG bytes, encoded in the inference process."""
        return await self._submit(_Job(model, self._future(), True, latent, labels))

    async def render_seed_png(self, model: LoadedModel, seed: int, label: int | None, truncation: float) -> bytes:
        """A seed URL's image as PNG bytes: its latent is drawn in the inference process, so the event loop
        makes no tensor for it."""
        return await self._submit(_Job(model, self._future(), True, labels=label, seed=seed, truncation=truncation))

    def _future(self) -> asyncio.Future:
        if self._loop is None:
            raise RuntimeError("the engine is not started")
        return self._loop.create_future()

    async def _submit(self, job: _Job):
        self._waiting.append(job)
        self._send_waiting()
        return await job.future

    def preload(self, model: str, version: str) -> dict:
        """From a loading thread, not the loop: wait until the inference process has loaded this version."""
        if self._loop is None:
            raise RuntimeError("the engine is not started")
        if threading.get_ident() == self._loop_thread:
            raise RuntimeError("preload waits for the event loop: call it from another thread")
        done = asyncio.run_coroutine_threadsafe(self._request({"op": "load", "model": model, "version": version}),
                                                self._loop)
        return done.result(PRELOAD_TIMEOUT_S)

    async def _request(self, header: dict) -> dict:
        future = self._loop.create_future()

        def settle(reply: dict, payload: memoryview | None) -> None:
            if future.done():
                return
            if reply.get("ok"):
                future.set_result(reply)
            else:
                future.set_exception(_error(reply))

        self._send(self._new_id(), header, b"", settle)
        return await future

    # the line

    def _send_waiting(self) -> None:
        """The next batch, when the process holds none: it forms from what came during the last forward, so
        batches grow with the load and a lone request goes at once. (A second batch sent ahead whenever a full
        one waited, so that the process never waits for the loop between forwards, served 0.92x:
        docs/benchmarks.md.)"""
        if self._waiting and self._transport is not None and not self._forwarding:
            self._send_batch(self._batch())

    def _batch(self) -> list[_Job]:
        """The oldest job and the waiting jobs that can share its forward."""
        prepared = self._waiting[0].model.prepared
        return take_batch(self._waiting, self.max_batch, self.enabled and (prepared is None or prepared.batchable))

    def _send_batch(self, group: list[_Job]) -> None:
        model = group[0].model
        header = {"op": "batch", "model": model.name, "version": model.version,
                  "rows": [j.rows for j in group], "png": [j.png for j in group]}
        if group[0].seed is not None:
            payload = b""
            header["seeds"] = [j.seed for j in group]
            header["truncations"] = [j.truncation for j in group]
            header["labels"] = None if group[0].labels is None else {"indices": [j.labels for j in group]}
        else:
            latents = torch.cat([j.latents for j in group]) if len(group) > 1 else group[0].latents
            payload = latents.to(torch.float32).contiguous().numpy().tobytes()
            header["labels"] = None
            if group[0].labels is not None:
                labels = torch.cat([j.labels for j in group]) if len(group) > 1 else group[0].labels
                array = labels.to(torch.float32 if labels.dtype.is_floating_point else torch.int64).contiguous().numpy()
                header["labels"] = {"dtype": str(array.dtype), "shape": list(array.shape)}
                payload += array.tobytes()
        images = sum(header["rows"])
        self.stats.batches += 1
        self.stats.images += images
        self.stats.largest = max(self.stats.largest, images)
        record_inference(model.name, images)
        batch_id = self._new_id()
        self._forwarding.add(batch_id)
        self._send(batch_id, header, payload, lambda reply, data: self._returned(batch_id, group, reply, data))

    def _forwarded(self, batch_id: int) -> None:
        """The process ran this batch's forward and encodes it now: the next batch can go."""
        if batch_id in self._forwarding:
            self._forwarding.discard(batch_id)
            self._send_waiting()

    def _returned(self, batch_id: int, group: list[_Job], reply: dict, payload: memoryview | None) -> None:
        self._forwarded(batch_id)  # already, unless the batch failed before its forward ended
        if not reply.get("ok"):
            error = _error(reply)
            for job in group:
                job.settle(None, error)
            return
        shape, start = reply["shape"], 0
        for job, length in zip(group, reply["parts"]):
            part = payload[start : start + length]
            start += length
            if job.png:
                job.settle(bytes(part), None)
            else:
                job.settle(np.frombuffer(part, dtype=np.uint8).reshape(job.rows, *shape).copy(), None)

    # the socket

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _send(self, request_id: int, header: dict, payload: bytes,
              on_reply: Callable[[dict, memoryview | None], None]) -> None:
        if self._transport is None:  # between a process and the next
            on_reply({"ok": False, "kind": "died"}, None)
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
            on_reply({"ok": False, "kind": "died"}, None)
        if self._stopping:
            return
        code = self._process.poll() if self._process is not None else None
        log.error("the inference process ended (exit code %s); starting another", code)
        self.restarts += 1
        self._loop.create_task(self._respawn())

    async def _respawn(self) -> None:
        # a process that dies as it starts (a broken install) is not restarted in a tight loop
        await asyncio.sleep(max(0.0, self._spawned_at + RESPAWN_INTERVAL_S - self._loop.time()))
        if not self._stopping:
            await self._spawn()


def _error(reply: dict) -> Exception:
    kind = reply.get("kind")
    if kind == "died":
        return InferenceProcessDied("the inference process ended while rendering this request; try again")
    if kind == "unavailable":  # e.g. deleted from the registry since the API loaded it
        return Unavailable(f"the inference process cannot load this version: {reply.get('error')}")
    return RuntimeError(reply.get("error", "the forward pass failed"))
