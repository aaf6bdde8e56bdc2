"""RQ job: a synthetic dataset from one published version, written as an archive the API serves for download.

The API enqueues "worker.synthesis.make_dataset" with a SynthesisSpec dict. Progress goes to `job.meta` as a
training job's does (images for steps), through the job's record, so an unreachable Redis delays reports but
never the work; a cancel stops at the next batch and leaves no files. Each job first removes the datasets
whose time is up.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import torch
from rq import get_current_job

from models import dataset_archive, dataset_store
from models.checkpoint import CheckpointError, load_generator, weights_sha256
from models.devices import resolve_device
from models.latents import prior_of
from models.names import InvalidName
from models.registry import VersionNotFound
from models.synthesis import SynthesisSpec, draw_labels, generate
from worker.job_record import fail_for_good, start_attempt
from worker.settings import get_settings

log = logging.getLogger(__name__)


class _Canceled(Exception):
    pass


def make_dataset(spec_dict: dict[str, Any]) -> dict[str, Any]:
    settings = get_settings()
    job = get_current_job()
    spec = SynthesisSpec.model_validate(spec_dict)
    torch.set_num_threads(settings.torch_thread_count())
    removed = dataset_store.remove_expired(settings.registry_dir)
    if removed:
        log.info("removed %d expired datasets", len(removed))
    record = start_attempt(job)
    meta = job.meta
    device = resolve_device(settings.device)
    try:
        generator, metadata = load_generator(settings.registry().path(spec.model, spec.version), device)
    except (VersionNotFound, InvalidName, CheckpointError) as e:  # deleted or broken since the API checked
        fail_for_good(job, f"cannot load version {spec.version} of {spec.model!r}: {e}")
        raise
    labels = draw_labels(spec.weights, spec.n, spec.first_seed) if spec.weights else None
    facts = dataset_archive.manifest(spec, metadata, weights_sha256(metadata), labels)
    batches = generate(generator, int(metadata["latent_dim"]), spec.seeds, labels, spec.truncation, device,
                       prior=prior_of(metadata))
    started = last_report = time.monotonic()

    def progress(done: int) -> None:
        nonlocal last_report
        if record.canceled():
            raise _Canceled
        now = time.monotonic()
        if now - last_report >= settings.progress_every_s or done == spec.n:
            rate = done / max(now - started, 1e-9)
            meta["progress"] = {"step": done, "total": spec.n, "images_per_s": round(rate, 1),
                                "eta_s": round((spec.n - done) / rate, 1)}
            record.save()
            last_report = now

    directory = dataset_store.dataset_dir(settings.registry_dir, job.id)
    try:
        path = dataset_store.save(directory, facts, spec.ttl_s,
                                  lambda scratch: dataset_archive.write(scratch, facts, batches, labels, progress))
    except _Canceled:
        meta["canceled"] = True
        record.save()
        record.flush()
        return {"model": spec.model, "version": spec.version, "canceled": True}
    seconds = time.monotonic() - started
    meta["dataset"] = {"bytes": path.stat().st_size, "seconds": round(seconds, 2)}
    record.save()
    record.flush()  # the last report must not be lost: the API shows the download once the job has finished
    log.info("dataset of %d images of %s version %s in %.1f s (%.0f images/s)", spec.n, spec.model,
             spec.version, seconds, spec.n / seconds)
    return {"model": spec.model, "version": spec.version, "n": spec.n, "bytes": meta["dataset"]["bytes"]}
