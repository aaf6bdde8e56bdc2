"""The projection job: a long search for an image's latent (models/projection.py) on a worker, for searches
that outgrow the API's bounded POST /project. Progress as for training; the answer goes into the job's meta."""

from __future__ import annotations

import base64
import logging
import time
from typing import Any

import torch
from rq import get_current_job

from models import images as imaging, projection
from models.checkpoint import CheckpointError, has_discriminator, load_discriminator, load_generator
from models.devices import resolve_device
from models.latents import prior_of
from models.names import InvalidName
from models.registry import VersionNotFound
from worker.job_record import fail_for_good, start_attempt
from worker.settings import get_settings

log = logging.getLogger(__name__)

MAX_LOSS_POINTS = 1_000  # the loss curve kept in the answer: every step up to this many, evenly thinned past it


def project(spec: dict[str, Any]) -> dict[str, Any]:
    """`spec`: model, pinned version, image (base64 PNG, checked by the API), label (index and name, or None),
    steps, seconds."""
    settings = get_settings()
    job = get_current_job()
    torch.set_num_threads(settings.torch_thread_count())
    record = start_attempt(job)
    meta = job.meta
    device = resolve_device(settings.device)
    try:
        directory = settings.registry().path(spec["model"], spec["version"])
        generator, metadata = load_generator(directory, device)
        discriminator = load_discriminator(directory, device)[0] if has_discriminator(metadata) else None
    except (VersionNotFound, InvalidName, CheckpointError) as e:  # deleted or broken since the API checked
        fail_for_good(job, f"cannot load version {spec['version']} of {spec['model']!r}: {e}")
        raise
    shape = metadata["image"]
    pixels = imaging.decode_png(base64.b64decode(spec["image"]), shape["height"], shape["width"], shape["channels"])
    target = imaging.from_uint8(torch.from_numpy(pixels[None].copy())).to(device)[0]
    label = None if spec.get("label") is None else torch.tensor(spec["label"], device=device)
    last_report = time.monotonic()

    def on_step(step: int, losses: dict[str, float]) -> bool:
        nonlocal last_report
        now = time.monotonic()
        if now - last_report >= settings.progress_every_s:
            meta["progress"] = {"step": step, "total": spec["steps"], "losses": losses}
            record.save()
            last_report = now
            return not record.canceled()
        return True

    found = projection.project(generator, target, int(metadata["latent_dim"]), label, discriminator, spec["steps"],
                               spec["seconds"], prior=prior_of(metadata), on_step=on_step)
    reconstruction = found.pixels()
    every = max(1, -(-len(found.losses) // MAX_LOSS_POINTS))
    meta["projection"] = {
        "latent": found.latent.cpu().tolist(), "label": spec.get("label_name"), "steps": found.steps,
        "seconds": round(found.seconds, 3), "loss": found.loss, "mse": projection.pixel_mse(reconstruction, pixels),
        "losses_every": every, "losses": found.losses[::every],
        "reconstruction_png_base64": base64.b64encode(imaging.encode_png(reconstruction)).decode()}
    meta["progress"] = {"step": found.steps, "total": spec["steps"], "losses": found.losses[-1]}
    meta["canceled"] = record.canceled() and found.steps < spec["steps"]
    record.save()
    record.flush()
    log.info("projected an image into %s version %s: %d steps in %.1f s", spec["model"], spec["version"],
             found.steps, found.seconds)
    return {"model": spec["model"], "version": spec["version"], "steps": found.steps}
