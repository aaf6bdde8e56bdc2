"""RQ job entry points: small importable functions taking plain JSON-able arguments.

The API enqueues "worker.jobs.train" with a TrainSpec dict; progress goes to `job.meta`, checkpoints into
the registry, cancellation arrives as a Redis key the loop polls. Once training runs, both go through the
job's record (worker/job_record.py), so that an unreachable Redis delays reports but never training. A job
holds its model's lock while it trains (worker/model_lock.py) and announces each version it publishes
(worker/announce.py).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import torch
from rq import get_current_job
from rq.job import Job

from models import checkpoint, evaluations, interface, jobfiles
from models.devices import resolve_device as _resolve_device
from models.evaluation import FULL_N, evaluate as evaluate_generator
from models.latents import prior_of
from models.names import InvalidName
from models.registry import Registry, VersionNotFound
from models.spec import TrainSpec
from worker import datasets
from worker.announce import announce
from worker.datasets import TrainingData
from worker.job_record import JobRecord, Superseded, fail_for_good, start_attempt
from worker.model_lock import Canceled, ModelLock
from worker.scoring import Scorer, reference_for
from worker.settings import WorkerSettings, get_settings
from worker.trainer import Callbacks, Checkpoint, Progress, Trainer

log = logging.getLogger(__name__)

JOBS_DIR = jobfiles.JOBS_DIR  # per-job artefacts (sample grids, metrics) inside the registry root


def resolve_device(setting: str) -> torch.device:
    device = _resolve_device(setting)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed shapes all job long: let cuDNN pick its fastest kernels
    return device


def job_dir(registry_root: Path, job_id: str) -> Path:
    return jobfiles.job_dir(registry_root, job_id)


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _resume_state(registry: Registry, spec: TrainSpec, versions: list[str]):
    """A retried job continues from the last version it published before its worker died; a new job with
    `resume` continues from that registry version (weights, optimizer state, step)."""
    if versions:
        model, version = spec.model, versions[-1]
    elif spec.resume is not None:
        model = spec.resume.model
        try:
            version = registry.resolve(model, spec.resume.version)
        except (VersionNotFound, InvalidName) as e:
            raise ValueError(f"cannot resume: {e}") from None
    else:
        return None
    log.info("resuming from %s version %s", model, version)
    try:
        return checkpoint.load_training_state(registry.path(model, version))
    except checkpoint.CheckpointError as e:
        raise ValueError(f"cannot resume from version {version} of {model!r}: {e}") from None


def _headline(metrics: dict[str, Any]) -> dict[str, Any]:
    """The few figures a job status shows per version; the version's metadata holds them all."""
    keys = ("fd", "fd_noise", "kid", "coverage", "class_kl", "label_accuracy", "n", "extractor", "error")
    return {k: metrics[k] for k in keys if k in metrics}


def train(spec_dict: dict[str, Any]) -> dict[str, Any]:
    settings = get_settings()
    job = get_current_job()
    spec = TrainSpec.model_validate(spec_dict)
    torch.set_num_threads(settings.torch_thread_count())
    registry = settings.registry()
    registry.clean_debris()  # a retry after a horse killed mid-publish: its parent worker never restarted
    meta = job.meta
    meta.setdefault("versions", [])
    meta.setdefault("warnings", [])
    record = start_attempt(job)

    def waiting() -> None:
        meta["waiting"] = f"another job is training model {spec.model!r}; this one starts when it ends"
        job.save_meta()

    lock = ModelLock(job.connection, spec.model, owner=job.id)
    try:
        lock.acquire(record.canceled, waiting)
    except Canceled:
        meta["canceled"] = True
        job.save_meta()
        return {"model": spec.model, "versions": meta["versions"], "step": 0, "canceled": True}
    if meta.pop("waiting", None):
        job.save_meta()
    try:
        return _train(job, spec, settings, registry, meta, record)
    except Superseded as e:
        log.warning("%s; this attempt stops here", e)
        # at once, without the lock's release or RQ's bookkeeping: the job, its lock (the job id is the lock's
        # token) and its record belong to the attempt that took over
        os._exit(0)
    finally:
        lock.release()


def _train(job: Job, spec: TrainSpec, settings: WorkerSettings, registry: Registry, meta: dict[str, Any],
           record: JobRecord) -> dict[str, Any]:
    device = resolve_device(settings.device)
    try:
        data = datasets.load(spec.dataset, spec.height, spec.width, spec.channels, settings.fashion_mnist_dir,
                             settings.data_root_paths, seed=spec.seed)
        meta["warnings"] = list(data.warnings)
        interface.refuse_changes(registry, spec, data.class_names)  # the class names the API could not know
        meta["versions"] = jobfiles.published_by(registry, spec.model, job.id)
        resume = _resume_state(registry, spec, meta["versions"])
        if resume is not None:
            meta["resumed_from_step"] = int(resume[1]["step"])
        job.save_meta()
        callbacks = _job_callbacks(job, spec, settings, registry, data, meta, record, device)
        # the callbacks come first: the trainer may warn as it is built (e.g. bf16 emulated on this CPU)
        trainer = Trainer(spec, data, callbacks, device, progress_every_s=settings.progress_every_s, resume=resume)
    except (ValueError, OSError) as e:  # the user's to fix: say so in the job, not only in a traceback
        fail_for_good(job, str(e))
        raise
    directory = job_dir(settings.registry_dir, job.id)
    jobfiles.write_model(directory, spec.model)  # the job's versions can be found without Redis (app/jobs.py)
    jobfiles.truncate_metrics(directory, trainer.step)
    result = trainer.run()
    meta["canceled"] = result.stopped
    record.save()
    record.flush()  # waits for Redis if it is away: RQ's own bookkeeping of the job's end needs it anyway
    return {"model": spec.model, "versions": meta["versions"], "step": result.step, "canceled": result.stopped}


def _job_callbacks(job: Job, spec: TrainSpec, settings: WorkerSettings, registry: Registry, data: TrainingData,
                   meta: dict[str, Any], record: JobRecord, device: torch.device) -> Callbacks:
    """What the training loop reports to: the registry (scored versions), the job's meta and its files."""
    directory = job_dir(settings.registry_dir, job.id)
    samples_dir = directory / jobfiles.SAMPLES
    scorer = Scorer(spec, data, registry, settings.fashion_mnist_dir, device)

    def publish(c: Checkpoint) -> str:
        metrics = scorer.score(c.metadata, c.generator_state)
        metadata = {**c.metadata, "model": spec.model, "job_id": job.id}
        if metrics is not None:
            metadata["metrics"] = metrics
        version = registry.publish(spec.model, lambda d: c.write(d, metadata))
        announce(record.connection, spec.model, version)  # first: replicas swap while we do the bookkeeping
        meta["versions"].append(version)
        if metrics is not None:
            meta.setdefault("metrics", {})[version] = _headline(metrics)
            meta["warnings"] += [f"version {version} (step {c.step}) not made best: {flag}"
                                 for flag in metrics.get("flags", [])]
            if metrics.get("error"):
                meta["warnings"].append(f"version {version} (step {c.step}): {metrics['error']}")
            if scorer.promote(version, metrics):
                meta["best"] = version
        record.save()
        samples(c.step, c.samples_png)
        log.info("published %s version %s at step %d", spec.model, version, c.step,
                 extra={"model": spec.model, "version": version})
        return version

    def progress(p: Progress) -> None:
        meta["progress"] = {"step": p.step, "total": p.total, "losses": p.losses, "scores": p.scores,
                            "images_per_s": round(p.images_per_s, 1), "eta_s": round(p.eta_s, 1)}
        record.save()

    def metrics(window: dict) -> None:
        jobfiles.append_metrics(directory, [window])

    def warning(message: str) -> None:
        log.warning("job %s: %s", job.id, message)
        meta["warnings"].append(message)
        record.save()

    def samples(step: int, png: bytes) -> None:
        _write_atomically(samples_dir / f"{step:08d}.png", png)
        meta["samples_step"] = step

    return Callbacks(publish=publish, progress=progress, samples=samples, should_stop=record.canceled,
                     metrics=metrics, warning=warning)


def evaluate(model: str, version: str, n: int = FULL_N) -> dict[str, Any]:
    """RQ job: the full protocol on one published version; the result goes to the registry's evaluations."""
    settings = get_settings()
    job = get_current_job()
    torch.set_num_threads(settings.torch_thread_count())
    registry = settings.registry()
    device = resolve_device(settings.device)
    generator, metadata = checkpoint.load_generator(registry.path(model, version), device)
    try:
        spec = TrainSpec.model_validate(metadata["training"]) if metadata.get("training") else None
    except ValueError:  # a spec of an older schema: the dataset kind in the metadata still says enough
        spec = None
    kind = spec.dataset.kind if spec else metadata.get("dataset", {}).get("kind", "fashion-mnist")
    data = None
    if kind != "fashion-mnist":  # the random-feature reference is the model's own training images
        data = datasets.load(spec.dataset, spec.height, spec.width, spec.channels, settings.fashion_mnist_dir,
                             settings.data_root_paths, seed=spec.seed)
    reference = reference_for(kind, data, settings.fashion_mnist_dir, settings.registry_dir)
    num_classes = len(metadata["classes"]) if metadata.get("classes") else 0
    result = evaluate_generator(generator, metadata["latent_dim"], num_classes, reference, n, device=device,
                                prior=prior_of(metadata))
    result["version"], result["step"] = version, metadata.get("step")
    key = evaluations.write(settings.registry_dir, model, version, result)
    if job is not None:
        job.meta["evaluation"] = key
        job.save_meta()
    log.info("evaluated %s version %s: FD %s at N=%d", model, version, result.get("fd"), result["n"])
    return result
