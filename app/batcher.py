"""Micro-batching on a dedicated inference thread: concurrent requests for one version share a forward pass.

Requests come from the event loop as (model, latents, labels) jobs. The inference thread takes the oldest,
then gathers more jobs for the same version for at most `max_wait_s` (or until none came for `max_gap_s`) or
until `max_batch` images, runs one forward pass, and hands each job its own rows back on its loop. Jobs for
other versions wait for the next round, in arrival order. Torch runs only on this thread, so the event loop
never blocks on a forward pass and the process never runs two forward passes that fight for the same cores.

A job may carry a `finish` step (PNG encoding of its image): cheap ones run on the inference thread right
after the forward; the others go, a whole batch at a time, to one encoder thread, which encodes while the
next forward runs and wakes the event loop once per batch.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

from app.metrics import record_inference
from app.pool import LoadedModel
from models import images as imaging
from models.devices import autocast

log = logging.getLogger(__name__)


@dataclass
class Job:
    model: LoadedModel
    latents: torch.Tensor  # (n, latent_dim), truncation already applied
    labels: torch.Tensor | None  # (n,) class indices or (n, classes) class vectors
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future
    finish: Callable[[np.ndarray], Any] | None = None  # e.g. PNG encoding of its image
    finish_inline: bool = True  # on the inference thread (cheap work), else on the encoder thread
    enqueued: float = field(default_factory=time.monotonic)

    @property
    def key(self) -> tuple:
        # rows are concatenated only when they can be: same version, and labels of the same kind
        kind = None if self.labels is None else (self.labels.dtype.is_floating_point, tuple(self.labels.shape[1:]))
        return id(self.model), kind

    def settle(self, result: Any = None, error: BaseException | None = None) -> None:
        settle_all([(self, result, error)])

    def apply(self, result: Any, error: BaseException | None) -> None:
        """On the requester's loop."""
        if self.future.done():  # the client went away and the request was cancelled
            return
        if error is not None:
            self.future.set_exception(error)
        else:
            self.future.set_result(result)


def settle_all(outcomes: list[tuple[Job, Any, BaseException | None]]) -> None:
    """Hand each job its result with one wake-up per event loop, not one per job: each call_soon_threadsafe
    writes to the loop's self-pipe, a system call on the loop's side for every request of a batch."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[Job, Any, BaseException | None]]] = {}
    for outcome in outcomes:
        by_loop.setdefault(outcome[0].loop, []).append(outcome)
    for loop, items in by_loop.items():
        try:
            loop.call_soon_threadsafe(_apply_all, items)
        except RuntimeError:  # the requester's loop is closed: nobody is waiting any more
            pass


def _apply_all(items: list[tuple[Job, Any, BaseException | None]]) -> None:
    for job, result, error in items:
        job.apply(result, error)


@dataclass
class BatchStats:
    batches: int = 0
    images: int = 0
    largest: int = 0


class MicroBatcher:
    def __init__(self, max_batch: int = 32, max_wait_s: float = 0.002, enabled: bool = True,
                 max_gap_s: float | None = None):
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.max_batch, self.max_wait_s, self.enabled = max_batch, max_wait_s, enabled
        # a batch stops gathering when no job came for this long, before max_wait_s: requests that come
        # together arrive back to back (the event loop hands one over every ~0.2 ms), and once they stop, waiting
        # out the rest of max_wait_s only delays the batch (8 clients: 1.15x the images/s, docs/benchmarks.md)
        self.max_gap_s = max_wait_s if max_gap_s is None else max_gap_s
        self.stats = BatchStats()
        self._queue: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._held: deque[Job] = deque()  # taken from the queue for another version: next round first
        self._thread: threading.Thread | None = None
        self._encodes: queue.SimpleQueue[list[tuple[Job, np.ndarray]] | None] = queue.SimpleQueue()
        self._encoder: threading.Thread | None = None
        self._last_group = 0  # requests in the previous forward: waiting pays only when they come together

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="inference", daemon=True)
        self._encoder = threading.Thread(target=self._encode, name="encoder", daemon=True)
        self._thread.start()
        self._encoder.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=10)
            self._thread = None
        if self._encoder is not None:  # after the inference thread: its last batch is encoded, not dropped
            self._encodes.put(None)
            self._encoder.join(timeout=10)
            self._encoder = None

    async def render(self, model: LoadedModel, latents: torch.Tensor, labels: torch.Tensor | None,
                     finish: Callable[[np.ndarray], Any] | None = None, finish_inline: bool = True) -> Any:
        """(n, latent_dim) latents -> (n, H, W, C) uint8 images, computed on the inference thread; or, given
        `finish`, what it makes of them, on the inference thread right after the forward (`finish_inline`:
        cheap work such as encoding one small image) or on the encoder thread with the rest of the batch.
        Either saves the event loop a hop through the thread pool per request."""
        if self._thread is None:
            raise RuntimeError("the batcher is not started")
        loop = asyncio.get_running_loop()
        job = Job(model, latents, labels, loop, loop.create_future(), finish, finish_inline)
        self._queue.put(job)
        return await job.future

    # the inference thread

    def _next(self, timeout: float | None) -> Job | None:
        if self._held:
            return self._held.popleft()
        try:
            return self._queue.get(timeout=timeout) if timeout is None or timeout > 0 else self._queue.get_nowait()
        except queue.Empty:
            return None

    def _gather(self, first: Job) -> list[Job]:
        """`first` and the jobs that can share its forward pass, within the wait and the batch limit."""
        group, size = [first], len(first.latents)
        if not (self.enabled and first.model.prepared is not None and first.model.prepared.batchable):
            return group
        # an idle server answers a lone request at once; under concurrent load the wait gathers company
        deadline = time.monotonic() + (self.max_wait_s if self._last_group > 1 else 0.0)
        held, self._held = self._held, deque()
        skipped_held: list[Job] = []  # skipped jobs keep their place in line for the next round
        skipped_new: list[Job] = []
        while size < self.max_batch:
            from_held = bool(held)
            if from_held:
                job = held.popleft()
            else:
                job = self._next(min(deadline - time.monotonic(), self.max_gap_s))
                if job is None:
                    break
            if job.key == first.key and size + len(job.latents) <= self.max_batch:
                group.append(job)
                size += len(job.latents)
            else:  # another version, or too big to fit
                (skipped_held if from_held else skipped_new).append(job)
        self._held = deque(skipped_held + list(held) + skipped_new)
        self._last_group = len(group)
        return group

    def _run(self) -> None:
        while True:
            first = self._next(None)
            if first is None:
                return
            group = self._gather(first)
            try:
                images = self._forward(group)
            except Exception as e:  # one bad batch must not kill the thread; its requests get the error
                log.exception("forward pass failed for %d requests", len(group))
                for job in group:
                    job.settle(error=e)
                continue
            outcomes: list[tuple[Job, Any, BaseException | None]] = []
            to_encode: list[tuple[Job, np.ndarray]] = []
            start = 0
            for job in group:
                rows = images[start : start + len(job.latents)]
                start += len(job.latents)
                if job.finish is not None and not job.finish_inline:
                    to_encode.append((job, rows))
                else:
                    outcomes.append(_finished(job, rows))
            if to_encode:
                self._encodes.put(to_encode)
            settle_all(outcomes)

    def _encode(self) -> None:
        """The encoder thread: finishes a batch's jobs and settles them together."""
        while (batch := self._encodes.get()) is not None:
            settle_all([_finished(job, rows) for job, rows in batch])

    def _forward(self, group: list[Job]) -> np.ndarray:
        model = group[0].model
        latents = torch.cat([j.latents for j in group])
        labels = None if group[0].labels is None else torch.cat([j.labels for j in group])
        self.stats.batches += 1
        self.stats.images += len(latents)
        self.stats.largest = max(self.stats.largest, len(latents))
        return run(model, latents, labels)


def _finished(job: Job, rows: np.ndarray) -> tuple[Job, Any, BaseException | None]:
    if job.finish is None:
        return job, rows, None
    try:
        return job, job.finish(rows), None
    except Exception as e:  # this job's error only
        return job, None, e


def run(model: LoadedModel, latents: torch.Tensor, labels: torch.Tensor | None) -> np.ndarray:
    """One forward pass in the caller's thread; an unbatchable model renders its images one at a time."""
    record_inference(model.name, len(latents))  # the images of this forward: micro-batches show as batches
    prepared = model.prepared
    if prepared is None:  # a model the pool did not prepare: as loaded, under its dtype
        with torch.inference_mode(), autocast(model.device, model.dtype):
            y = None if labels is None else labels.to(model.device)
            return imaging.to_uint8(model.generator(latents.to(model.device), y).float())
    if prepared.batchable or len(latents) == 1:
        return prepared.forward(latents, labels)
    return np.concatenate([prepared.forward(latents[i : i + 1], None if labels is None else labels[i : i + 1])
                           for i in range(len(latents))])
