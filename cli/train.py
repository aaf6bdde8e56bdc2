"""`gan train`: submit a job to the API (and follow it), or train in this process; both with a progress bar."""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import click
import httpx
from pydantic import ValidationError
from tqdm import tqdm

from cli.common import api_option, check, client, registry_option, request

TERMINAL = ("finished", "failed", "canceled")


class ProgressBar:
    """A tqdm bar over steps whose postfix shows the losses; tqdm works out the rate and the ETA."""

    def __init__(self, total: int, description: str):
        self.bar = tqdm(total=total, desc=description, unit="step", mininterval=0, dynamic_ncols=True)

    def update(self, step: int, total: int, losses: dict[str, float], scores: dict[str, float]) -> None:
        self.bar.total = total
        self.bar.update(step - self.bar.n)
        self.bar.set_postfix({**{f"loss_{k}": f"{v:.3f}" for k, v in losses.items()},
                              **{k: f"{v:.3f}" for k, v in scores.items()}}, refresh=True)

    def write(self, line: str) -> None:
        self.bar.write(line, file=sys.stderr)  # beside the bar; stdout keeps only the results

    def close(self) -> None:
        self.bar.close()


def follow(api: str, job_id: str) -> dict[str, Any]:
    """Stream the job's events until it ends, telling status changes and new versions; returns its last status."""
    bar: ProgressBar | None = None
    last: dict[str, Any] = {}
    event = None

    def say(line: str) -> None:
        bar.write(line) if bar is not None else click.echo(line, err=True)

    try:
        with client(api) as c, c.stream("GET", f"/train/{job_id}/events",
                                        timeout=httpx.Timeout(60, read=None)) as response:
            if not response.is_success:
                response.read()
                check(response)
            for line in response.iter_lines():
                if line.startswith("event: "):
                    event = line[len("event: "):]
                elif line.startswith("data: ") and event == "status":
                    status = json.loads(line[len("data: "):])
                    if status["status"] != last.get("status"):
                        say(f"job {job_id} {status['status']}")
                    for version in status["versions"][len(last.get("versions", [])):]:
                        say(f"published {status['model']} version {version}")
                    last = status
                    p = status.get("progress")
                    if p:
                        bar = bar or ProgressBar(p["total"], status["model"])
                        bar.update(p["step"], p["total"], p["losses"], p["scores"])
                elif line.startswith("data: ") and event == "error":
                    raise click.ClickException(json.loads(line[len("data: "):])["detail"])
    except httpx.TransportError as e:
        raise click.ClickException(f"lost the service at {api}: {e}; follow again with "
                                   f"`gan train --job {job_id} --api {api}`") from None
    except KeyboardInterrupt:
        raise click.ClickException(f"stopped following; the job goes on. Follow it again with "
                                   f"`gan train --job {job_id}`, cancel it with DELETE /train/{job_id}") from None
    finally:
        if bar is not None:
            bar.close()
    return last


def report(status: dict[str, Any]) -> None:
    versions = ", ".join(status.get("versions") or []) or "none"
    click.echo(f"job {status['id']} {status['status']}: model {status['model']}, versions {versions}")
    if status["status"] != "finished":
        raise click.ClickException(status.get("error") or f"the job was {status['status']}")


def train_local(spec, registry: Path, device_name: str) -> None:
    import torch

    from models.registry import Registry
    from worker import datasets
    from worker.settings import WorkerSettings
    from worker.trainer import Callbacks, Trainer

    settings = WorkerSettings(registry_dir=registry)
    torch.set_num_threads(settings.torch_thread_count())
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if device_name == "auto" else device_name)
    try:
        data = datasets.load(spec.dataset, spec.height, spec.width, spec.channels, settings.fashion_mnist_dir,
                             settings.data_root_paths, seed=spec.seed)
    except (ValueError, OSError) as e:
        raise click.ClickException(str(e)) from None
    store = Registry(registry)
    bar = ProgressBar(spec.steps, spec.model)
    stop = threading.Event()

    def publish(c) -> str:
        version = store.publish(spec.model, lambda d: c.write(d, {**c.metadata, "model": spec.model}))
        bar.write(f"published {spec.model} version {version} at step {c.step} into {registry}")
        return version

    def interrupt(signum, frame) -> None:
        # the first Ctrl-C stops at the next report and publishes; a second one kills
        stop.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    previous = signal.signal(signal.SIGINT, interrupt)
    try:
        trainer = Trainer(spec, data, Callbacks(
            publish=publish, progress=lambda p: bar.update(p.step, p.total, p.losses, p.scores),
            should_stop=stop.is_set), device, progress_every_s=0.5)
        result = trainer.run()
    except ValueError as e:
        raise click.ClickException(str(e)) from None
    finally:
        signal.signal(signal.SIGINT, previous)
        bar.close()
    state = "stopped early" if result.stopped else "finished"
    click.echo(f"{spec.model} {state} at step {result.step}: versions {', '.join(result.versions)}")


@click.command()
@click.option("--model", help="Registry name the versions are published under.")
@click.option("--dataset", type=click.Choice(["synthetic", "fashion-mnist", "idx", "folder"]),
              help="Dataset kind [default: synthetic].")
@click.option("--dataset-path", help="Directory of an idx or folder dataset (under GAN_DATA_ROOTS).")
@click.option("--limit", type=int, help="Use at most this many images.")
@click.option("--architecture", help="dcgan, cdcgan (conditional) or another name from the table [default: dcgan].")
@click.option("--steps", type=int, help="Training steps [default: 1000].")
@click.option("--batch-size", type=int)
@click.option("--image-size", type=int, help="Image side in pixels [default: 32].")
@click.option("--channels", type=click.Choice(["1", "3"]), help="[default: 1]")
@click.option("--base-width", type=int, help="Network width multiplier [default: 64].")
@click.option("--checkpoint-every", type=int, help="Publish a version every this many steps.")
@click.option("--sample-every", type=int)
@click.option("--seed", type=int)
@click.option("--spec", "spec_file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="A JSON training job (as POST /train takes); the options above override its fields.")
@click.option("--local", is_flag=True, help="Train in this process and publish into --registry; no API needed.")
@click.option("--follow", "follow_flag", is_flag=True, help="After submitting, show the job's progress until it ends.")
@click.option("--job", "job_id", help="Follow a job submitted earlier instead of submitting one.")
@click.option("--device", default="auto", show_default=True, help="With --local: auto, cpu, cuda, cuda:N.")
@api_option
@registry_option
def train(model, dataset, dataset_path, limit, architecture, steps, batch_size, image_size, channels, base_width,
          checkpoint_every, sample_every, seed, spec_file, local, follow_flag, job_id, device, api, registry) -> None:
    """Train a GAN: submit a job to the service, or with --local train right here.

    The progress bar shows the step, the losses and the time left.

    \b
    Examples:
      gan train --model my-gan --steps 2000 --follow
      gan train --model shoes --dataset fashion-mnist --architecture cdcgan --image-size 28 --follow
      gan train --local --model tiny --steps 200 --batch-size 16 --base-width 16
      gan train --spec job.json --follow
      gan train --job 3f2c9e...                  # follow a job submitted earlier
    """
    if job_id:
        report(follow(api, job_id))
        return
    fields = {"model": model, "architecture": architecture, "steps": steps, "batch_size": batch_size,
              "image_size": image_size, "channels": int(channels) if channels else None, "base_width": base_width,
              "checkpoint_every": checkpoint_every, "sample_every": sample_every, "seed": seed}
    spec = _spec(spec_file, fields, dataset, dataset_path, limit)
    if local:
        train_local(spec, registry, device)
        return
    job = request(api, "POST", "/train", json=spec.model_dump(mode="json")).json()
    click.echo(f"submitted job {job['id']}: {job['status_url']}")
    if follow_flag:
        report(follow(api, job["id"]))


def _spec(spec_file: Path | None, fields: dict[str, Any], kind: str | None, path: str | None, limit: int | None):
    from models.spec import TrainSpec

    body = json.loads(spec_file.read_text()) if spec_file else {}
    body.update({k: v for k, v in fields.items() if v is not None})
    dataset = dict(body.get("dataset") or {"kind": "synthetic"})
    dataset.update({k: v for k, v in (("kind", kind), ("path", path), ("limit", limit)) if v is not None})
    body["dataset"] = dataset
    if "model" not in body:
        raise click.UsageError("give --model (or a --spec file that names one)")
    try:
        return TrainSpec.model_validate(body)
    except ValidationError as e:
        problems = "; ".join(f"{'.'.join(map(str, err['loc'])) or 'spec'}: {err['msg']}" for err in e.errors())
        raise click.UsageError(f"invalid training job: {problems}") from None
