"""Micro-batching: requests gathered on the event loop, each batch's forward pass run on one inference thread.

Requests come from the event loop as (model, latents, labels) jobs and queue there. Whenever the inference thread
has no batch of this loop in hand, the loop takes the oldest job and every queued job that can share its forward
pass (same version, labels of the same kind), up to `max_batch` images, and hands them over as one batch. Requests
that come while a forward runs queue up and form the next batch, so batches grow with the load and a lone
request runs at once, with no timer. Jobs for other versions keep their place in line.

The inference thread only runs the forward: all the per-request Python work stays on the event loop, and the
thread needs Python's interpreter lock just to pick a batch up and hand it back. The two threads had taken the
lock from each other many times a batch when the inference thread gathered requests itself (a wake-up per
request) and encoded them (docs/benchmarks.md). A job's `finish` step (PNG encoding of its image) runs on one
encoder thread, a whole batch at a time, while the next forward runs, so the event loop never computes.

This is the engine with GAN_INFERENCE_PROCESS=false; by default the forwards run in an inference process
(app/process_engine.py), where they need none of the API's interpreter lock.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch

from app.engine import BatchStats, labels_kind, settle, take_batch
from app.inference import forward_images
from app.metrics import record_inference
from app.pool import LoadedModel
from models import images as imaging
from models.latents import seed_latents, truncate

log = logging.getLogger(__name__)

Outcome = tuple["Job", Any, "BaseException | None"]


@dataclass
class Job:
    model: LoadedModel
    latents: torch.Tensor  # (n, latent_dim), truncation already applied
    labels: torch.Tensor | None  # (n,) class indices or (n, classes) class vectors
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future
    finish: Callable[[np.ndarray], Any] | None = None  # e.g. PNG encoding of its image, on the encoder thread

    @property
    def rows(self) -> int:
        return len(self.latents)

    @property
    def key(self) -> tuple:
        return id(self.model), labels_kind(self.labels)

    def apply(self, result: Any, error: BaseException | None) -> None:
        """On the requester's loop."""
        settle(self.future, result, error)


def settle_all(outcomes: list[Outcome]) -> None:
    """From another thread: each job's result, with one wake-up per event loop rather than one per job (each
    call_soon_threadsafe writes to the loop's self-pipe, a system call on the loop's side)."""
    by_loop: dict[asyncio.AbstractEventLoop, list[Outcome]] = {}
    for outcome in outcomes:
        by_loop.setdefault(outcome[0].loop, []).append(outcome)
    for loop, items in by_loop.items():
        try:
            loop.call_soon_threadsafe(_apply_all, items)
        except RuntimeError:  # the requester's loop is closed: nobody is waiting any more
            pass


def _apply_all(items: list[Outcome]) -> None:
    for job, result, error in items:
        job.apply(result, error)


class _LoopLine:
    """One event loop's queued jobs and whether the inference thread holds a batch of them. Loop-side only."""

    def __init__(self, batcher: MicroBatcher, loop: asyncio.AbstractEventLoop):
        self.batcher, self.loop = batcher, loop
        self.waiting: deque[Job] = deque()
        self.busy = False

    def add(self, job: Job) -> None:
        self.waiting.append(job)
        if not self.busy:
            self._hand_over()

    def _hand_over(self) -> None:
        """The oldest job and the waiting jobs that can share its forward, to the inference thread."""
        batcher = self.batcher
        prepared = self.waiting[0].model.prepared
        group = take_batch(self.waiting, batcher.max_batch,
                           batcher.enabled and prepared is not None and prepared.batchable)
        self.busy = True
        batcher._batches.put((self, group))

    def returned(self, group: list[Job], images: np.ndarray | None, error: BaseException | None) -> None:
        """The inference thread's answer, on the loop: the next batch goes first, so the thread never waits for
        this one's requests to be answered."""
        self.busy = False
        if self.waiting:
            self._hand_over()
        if error is not None:
            for job in group:
                job.apply(None, error)
            return
        to_finish: list[tuple[Job, np.ndarray]] = []
        start = 0
        for job in group:
            rows = images[start : start + len(job.latents)]
            start += len(job.latents)
            if job.finish is None:
                job.apply(rows, None)
            else:
                to_finish.append((job, rows))
        if to_finish:
            self.batcher._finishes.put(to_finish)


class MicroBatcher:
    def __init__(self, max_batch: int = 16, enabled: bool = True):
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.max_batch, self.enabled = max_batch, enabled
        self.stats = BatchStats()
        self._lines: dict[asyncio.AbstractEventLoop, _LoopLine] = {}
        self._batches: queue.SimpleQueue[tuple[_LoopLine, list[Job]] | None] = queue.SimpleQueue()
        self._finishes: queue.SimpleQueue[list[tuple[Job, np.ndarray]] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._encoder: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="inference", daemon=True)
        self._encoder = threading.Thread(target=self._encode, name="encoder", daemon=True)
        self._thread.start()
        self._encoder.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._batches.put(None)
            self._thread.join(timeout=10)
            self._thread = None
        if self._encoder is not None:  # after the inference thread: its last batch is encoded, not dropped
            self._finishes.put(None)
            self._encoder.join(timeout=10)
            self._encoder = None

    def describe(self) -> dict:
        """For /readyz."""
        return {"engine": "thread", "batching": self.enabled, "max_batch": self.max_batch}

    async def render(self, model: LoadedModel, latents: torch.Tensor, labels: torch.Tensor | None,
                     finish: Callable[[np.ndarray], Any] | None = None) -> Any:
        """(n, latent_dim) latents -> (n, H, W, C) uint8 images, computed on the inference thread; or, given
        `finish`, what it makes of them (e.g. PNG bytes), on the encoder thread."""
        if self._thread is None:
            raise RuntimeError("the batcher is not started")
        loop = asyncio.get_running_loop()
        job = Job(model, latents, labels, loop, loop.create_future(), finish)
        self._line(loop).add(job)
        return await job.future

    async def render_png(self, model: LoadedModel, latent: torch.Tensor, labels: torch.Tensor | None) -> bytes:
        """One latent -> its image as PNG bytes, encoded on the encoder thread with the rest of its batch."""
        return await self.render(model, latent, labels, finish=_first_as_png)

    async def render_seed_png(self, model: LoadedModel, seed: int, label: int | None, truncation: float) -> bytes:
        """A seed URL's image as PNG bytes."""
        latent = truncate(seed_latents([seed], model.latent_dim), truncation)
        labels = None if label is None else torch.tensor([label])
        return await self.render_png(model, latent, labels)

    def _line(self, loop: asyncio.AbstractEventLoop) -> _LoopLine:
        line = self._lines.get(loop)
        if line is None:  # a server has one loop; tests and tools may run several, one after another
            for closed in [other for other in self._lines if other.is_closed()]:
                del self._lines[closed]
            line = self._lines[loop] = _LoopLine(self, loop)
        return line

    # the inference thread

    def _run(self) -> None:
        while (item := self._batches.get()) is not None:
            line, group = item
            images, error = None, None
            try:
                images = self._forward(group)
            except Exception as e:  # one bad batch must not kill the thread; its requests get the error
                log.exception("forward pass failed for %d requests", len(group))
                error = e
            try:
                line.loop.call_soon_threadsafe(line.returned, group, images, error)
            except RuntimeError:  # the loop is closed: nobody is waiting any more
                pass

    def _forward(self, group: list[Job]) -> np.ndarray:
        model = group[0].model
        latents = torch.cat([j.latents for j in group]) if len(group) > 1 else group[0].latents
        labels = group[0].labels
        if labels is not None and len(group) > 1:
            labels = torch.cat([j.labels for j in group])
        self.stats.batches += 1
        self.stats.images += len(latents)
        self.stats.largest = max(self.stats.largest, len(latents))
        return run(model, latents, labels)

    # the encoder thread

    def _encode(self) -> None:
        """Finishes a batch's jobs and settles them together."""
        while (batch := self._finishes.get()) is not None:
            settle_all([_finished(job, rows) for job, rows in batch])


def _finished(job: Job, rows: np.ndarray) -> Outcome:
    try:
        return job, job.finish(rows), None
    except Exception as e:  # this job's error only
        return job, None, e


def _first_as_png(rows: np.ndarray) -> bytes:
    return imaging.encode_png(rows[0])


def run(model: LoadedModel, latents: torch.Tensor, labels: torch.Tensor | None) -> np.ndarray:
    """One forward pass in the caller's thread; an unbatchable model renders its images one at a time."""
    record_inference(model.name, len(latents))  # the images of this forward: micro-batches show as batches
    return forward_images(model, latents, labels)
