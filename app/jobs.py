"""The job queue client: enqueues training, evaluation, dataset and projection jobs for the worker by dotted path, reads their state back.

The app never imports the worker; they meet in Redis (the job, its meta) and in the registry directory.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError, TimeoutError as RedisTimeoutError
from rq import Queue, Retry
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.registry import (CanceledJobRegistry, DeferredJobRegistry, FailedJobRegistry, FinishedJobRegistry,
                         ScheduledJobRegistry, StartedJobRegistry)

from app.errors import NotFound, Unavailable
from app.job_view import hide_paths, public_spec, spec_paths
from models import jobfiles
from models.cancellation import cancel_key
from models.registry import Registry
from models.spec import TrainSpec
from models.synthesis import SynthesisSpec

TRAIN_FUNCTION = "worker.jobs.train"
EVALUATE_FUNCTION = "worker.jobs.evaluate"
DATASET_FUNCTION = "worker.synthesis.make_dataset"
PROJECTION_FUNCTION = "worker.projection.project"
EVALUATE_TIMEOUT_S = 3 * 3600  # 10k samples of a large model on a slow CPU, with room to spare
REDIS_ERRORS = (RedisConnectionError, RedisTimeoutError, OSError)
RESULT_TTL_S = 7 * 24 * 3600

_STATUS = {
    JobStatus.QUEUED: "queued", JobStatus.SCHEDULED: "queued", JobStatus.DEFERRED: "queued",
    JobStatus.CREATED: "queued", JobStatus.STARTED: "started", JobStatus.FINISHED: "finished",
    JobStatus.FAILED: "failed", JobStatus.STOPPED: "canceled", JobStatus.CANCELED: "canceled",
}


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


class JobQueue:
    def __init__(self, redis_url: str, queue_names: list[str], job_timeout_s: int, retries: int,
                 registry_dir: Path | None = None):
        """`registry_dir`: where to look for what a job left behind when Redis no longer knows it."""
        # short timeouts: a dead Redis must answer 503 quickly, never hang a request
        self.redis = Redis.from_url(redis_url, socket_connect_timeout=1, socket_timeout=3)
        self.queue_names, self.job_timeout_s, self.retries = queue_names, job_timeout_s, retries
        self.registry_dir = registry_dir
        self.queue_name = queue_names[0]  # where jobs go unless they name another

    def ping(self) -> bool:
        try:
            return bool(self.redis.ping())
        except REDIS_ERRORS:
            return False

    def _unavailable(self, e: Exception) -> Unavailable:
        return Unavailable(f"the job queue (Redis) is unreachable: {e.__class__.__name__}; "
                           "training jobs cannot be submitted or read until it is back")

    def _enqueue(self, function: str, args: tuple, queue: str | None, timeout: int, description: str,
                 meta: dict[str, Any], retries: int = 0) -> str:
        """Enqueue `function` (a dotted path the worker imports) with plain arguments; the new job's id."""
        job_id = uuid.uuid4().hex
        try:
            Queue(queue or self.queue_name, connection=self.redis).enqueue_call(
                function, args=args, job_id=job_id, timeout=timeout, result_ttl=RESULT_TTL_S,
                failure_ttl=RESULT_TTL_S, retry=Retry(max=retries) if retries else None,
                description=description, meta=meta)
        except REDIS_ERRORS as e:
            raise self._unavailable(e) from None
        return job_id

    def submit(self, spec: TrainSpec, queue: str | None = None, owner: str | None = None) -> str:
        """`owner`: the id of the API key that submits the job (app.security.Caller.key_id), None without keys."""
        return self._enqueue(TRAIN_FUNCTION, (spec.model_dump(mode="json"),), queue, self.job_timeout_s,
                             f"train {spec.architecture} {spec.model!r} for {spec.steps} steps",
                             {"model": spec.model, "spec": spec.model_dump(mode="json"), "owner": owner},
                             self.retries)

    def submit_evaluation(self, model: str, version: str, n: int, owner: str | None = None) -> str:
        return self._enqueue(EVALUATE_FUNCTION, (model, version, n), None, EVALUATE_TIMEOUT_S,
                             f"evaluate {model!r} version {version} with N={n}",
                             {"model": model, "versions": [version], "kind": "evaluation", "owner": owner})

    def submit_dataset(self, spec: SynthesisSpec, queue: str | None = None, owner: str | None = None) -> str:
        # a retry after a dead worker starts the dataset again from its first image
        return self._enqueue(DATASET_FUNCTION, (spec.model_dump(mode="json"),), queue, self.job_timeout_s,
                             f"dataset of {spec.n} images of {spec.model!r} version {spec.version}",
                             {"model": spec.model, "versions": [spec.version], "kind": "dataset",
                              "dataset_spec": spec.model_dump(mode="json"), "owner": owner}, self.retries)

    def submit_projection(self, spec: dict[str, Any], queue: str | None = None, owner: str | None = None) -> str:
        """`spec`: what worker.projection.project takes (model, pinned version, base64 PNG, label, steps, seconds)."""
        return self._enqueue(PROJECTION_FUNCTION, (spec,), queue, self.job_timeout_s,
                             f"project an image into {spec['model']!r} version {spec['version']}",
                             {"model": spec["model"], "versions": [spec["version"]], "kind": "projection",
                              "owner": owner}, self.retries)

    def _fetch(self, job_id: str) -> Job:
        try:
            return Job.fetch(job_id, connection=self.redis)
        except NoSuchJobError:
            raise NotFound(self._unknown(job_id)) from None
        except REDIS_ERRORS as e:
            raise self._unavailable(e) from None

    def _unknown(self, job_id: str) -> str:
        """Why there is no such job, and where its work is if the registry remembers it: a Redis that restarted
        without its data forgets jobs whose versions are safe in the registry."""
        model = None
        if self.registry_dir is not None:
            try:
                model = jobfiles.read_model(jobfiles.job_dir(self.registry_dir, job_id))
            except ValueError:  # not a job id at all
                pass
        if model is None:
            return f"unknown training job {job_id!r}"
        try:
            versions = jobfiles.published_by(Registry(self.registry_dir), model, job_id)
        except (OSError, ValueError):
            versions = []
        published = f"versions {', '.join(versions)}" if versions else "no version"
        return (f"training job {job_id!r} is no longer in the job queue (Redis lost it); it trained model "
                f"{model!r} and published {published}: see /models/{model}; its samples and metrics are at "
                f"/train/{job_id}/metrics")

    def describe(self, job: Job) -> dict[str, Any]:
        """The job's public view: what it is doing and made, with no server path in it (app/job_view.py)."""
        meta = job.get_meta(refresh=False)
        paths = spec_paths(meta.get("spec"))
        status = _STATUS.get(job.get_status(refresh=False), "queued")
        if status == "finished" and meta.get("canceled"):
            status = "canceled"
        error = meta.get("error")
        if status == "failed" and not error:
            result = job.latest_result()
            exc = (result.exc_string if result is not None else None) or ""
            error = exc.strip().splitlines()[-1] if exc.strip() else "the job failed"
        return {
            "id": job.id, "kind": meta.get("kind", "training"), "status": status, "model": meta.get("model"),
            "progress": meta.get("progress"),
            "versions": meta.get("versions", []), "error": hide_paths(error, paths) if error else None,
            "warnings": [hide_paths(warning, paths) for warning in meta.get("warnings", [])],
            "metrics": meta.get("metrics"), "best": meta.get("best"),
            "attempts": meta.get("attempts", 0), "resumed_from_step": meta.get("resumed_from_step"),
            "enqueued_at": _iso(job.enqueued_at),
            "started_at": _iso(job.started_at), "ended_at": _iso(job.ended_at),
            "spec": public_spec(meta.get("spec")),
            "queue": job.origin, "worker": job.worker_name, "waiting": meta.get("waiting"),
            "owner": meta.get("owner"),
        }

    def status(self, job_id: str) -> dict[str, Any]:
        job = self._fetch(job_id)
        try:
            return self.describe(job)
        except REDIS_ERRORS as e:
            raise self._unavailable(e) from None

    def owner(self, job_id: str) -> str | None:
        """The id of the key that submitted the job; None if it was submitted without keys."""
        return self.meta(job_id).get("owner")

    def meta(self, job_id: str) -> dict[str, Any]:
        """What the API and the worker record in the job beyond its public view."""
        try:
            return self._fetch(job_id).get_meta(refresh=False)
        except REDIS_ERRORS as e:
            raise self._unavailable(e) from None

    def cancel(self, job_id: str) -> dict[str, Any]:
        job = self._fetch(job_id)
        try:
            status = job.get_status()
            if status == JobStatus.STARTED:
                # the loop stops at its next report and publishes what it has
                self.redis.set(cancel_key(job_id), 1, ex=RESULT_TTL_S)
            elif status in (JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED, JobStatus.CREATED):
                job.cancel()
            return self.describe(Job.fetch(job_id, connection=self.redis))
        except REDIS_ERRORS as e:
            raise self._unavailable(e) from None

    def counts_by_state(self) -> dict[str, dict[str, int]] | None:
        """Jobs per queue and state (the names JobOut uses); None while Redis is unreachable."""
        try:
            counts = {}
            for name in self.queue_names:
                queue = Queue(name, connection=self.redis)
                waiting = (queue.count + DeferredJobRegistry(queue=queue).count
                           + ScheduledJobRegistry(queue=queue).count)
                counts[name] = {"queued": waiting, "started": StartedJobRegistry(queue=queue).count,
                                "finished": FinishedJobRegistry(queue=queue).count,
                                "failed": FailedJobRegistry(queue=queue).count,
                                "canceled": CanceledJobRegistry(queue=queue).count}
            return counts
        except REDIS_ERRORS:
            return None

    def list(self, limit: int = 100) -> list[dict[str, Any]]:
        try:
            ids: list[str] = []
            for name in self.queue_names:
                queue = Queue(name, connection=self.redis)
                ids += queue.get_job_ids()
                for registry in (StartedJobRegistry, FinishedJobRegistry, FailedJobRegistry, CanceledJobRegistry):
                    ids += registry(queue=queue).get_job_ids()
            jobs = [j for j in Job.fetch_many(list(dict.fromkeys(ids)), connection=self.redis) if j is not None]
            jobs.sort(key=lambda j: j.enqueued_at or j.created_at, reverse=True)
            return [self.describe(j) for j in jobs[:limit]]
        except REDIS_ERRORS as e:
            raise self._unavailable(e) from None
