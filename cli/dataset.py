"""`gan dataset`: have the service generate a labelled synthetic dataset, follow it with a progress bar, and
download the archive, resuming a download that was cut off."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click
import httpx
from tqdm import tqdm

from cli.common import api_option, check, client, request

TERMINAL = ("finished", "failed", "canceled")
POLL_S = 0.5


def class_weights(values: tuple[str, ...]) -> dict[str, float] | None:
    """`--class Sneaker=2 --class Bag` as {"Sneaker": 2.0, "Bag": 1.0}."""
    weights = {}
    for value in values:
        name, _, weight = value.partition("=")
        try:
            weights[name] = float(weight) if weight else 1.0
        except ValueError:
            raise click.BadParameter(f"{value!r}: write NAME or NAME=WEIGHT, e.g. Sneaker=2",
                                     param_hint="--class") from None
    return weights or None


def follow(api: str, job_id: str) -> dict[str, Any]:
    """Poll the job until it ends, with a bar over its images; its last status."""
    bar = None
    try:
        while True:
            status = request(api, "GET", f"/datasets/{job_id}").json()
            progress = status.get("progress")
            if progress:
                bar = bar or tqdm(total=progress["total"], desc=status["model"], unit="image", dynamic_ncols=True)
                bar.update(progress["step"] - bar.n)
            if status["status"] in TERMINAL:
                return status
            time.sleep(POLL_S)
    except KeyboardInterrupt:
        raise click.ClickException(f"stopped following; the job goes on. Download it later with "
                                   f"`gan dataset --job {job_id} --out FILE`") from None
    finally:
        if bar is not None:
            bar.close()


def download(api: str, job_id: str, out: Path) -> None:
    """The archive into `out`, through `out`.part, which a later call continues with a range request."""
    part = out.with_name(out.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    try:
        with client(api) as c, c.stream("GET", f"/datasets/{job_id}/download",
                                        headers={"Range": f"bytes={have}-"} if have else None,
                                        timeout=httpx.Timeout(60, read=300)) as response:
            if response.status_code == 416:  # the part is whole already
                part.replace(out)
                return
            if not response.is_success:
                response.read()
                check(response)
            if response.status_code == 200:  # the service sent it all: start over
                have = 0
            total = have + int(response.headers.get("content-length", 0))
            with open(part, "ab" if have else "wb") as f, tqdm(total=total, initial=have, unit="B", unit_scale=True,
                                                               desc=out.name, dynamic_ncols=True) as bar:
                for chunk in response.iter_bytes():
                    f.write(chunk)
                    bar.update(len(chunk))
    except httpx.TransportError as e:
        raise click.ClickException(f"the download stopped ({e}); run the same command again to resume it") from None
    part.replace(out)


@click.command()
@click.option("--model", help="Model to generate from.")
@click.option("--version", default="latest", show_default=True, help="'latest', 'best' or a version number.")
@click.option("-n", "--n", "n", type=int, help="Images in the dataset.")
@click.option("--class", "classes", multiple=True, metavar="NAME[=WEIGHT]",
              help="A class and its weight, repeated (conditional models); default: every class equally.")
@click.option("--truncation", type=float, default=1.0, show_default=True)
@click.option("--first-seed", type=int, default=0, show_default=True,
              help="Image i comes from seed first-seed + i.")
@click.option("--format", "fmt", type=click.Choice(["png", "idx"]), default="png", show_default=True,
              help="png: PNGs with labels.csv; idx: Fashion-MNIST's IDX files. Both in a .tar.gz.")
@click.option("--queue", help="Queue to run on, one of the service's GAN_QUEUES.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to save the archive [default: <model>-<job>.tar.gz].")
@click.option("--job", "job_id", help="Follow and download a dataset job submitted earlier.")
@api_option
def dataset(model, version, n, classes, truncation, first_seed, fmt, queue, out, job_id, api) -> None:
    """Generate a labelled synthetic dataset on the service's workers and download it.

    \b
    Examples:
      gan dataset --model fashion-cdcgan -n 60000 --format idx --out fashion-synthetic.tar.gz
      gan dataset --model fashion-cdcgan -n 1000 --class Sneaker --class Bag=2 --truncation 0.8
      gan dataset --job 3f2c9e... --out data.tar.gz     # follow or download a job submitted earlier
    """
    if not job_id:
        if not model or not n:
            raise click.UsageError("give --model and -n (or --job to download a dataset made earlier)")
        body = {"model": model, "version": version, "n": n, "classes": class_weights(classes),
                "truncation": truncation, "first_seed": first_seed, "format": fmt, "queue": queue}
        job_id = request(api, "POST", "/datasets", json={k: v for k, v in body.items() if v is not None}).json()["id"]
        click.echo(f"submitted dataset job {job_id}", err=True)
    status = follow(api, job_id)
    if status["status"] != "finished":
        raise click.ClickException(status.get("error") or f"the dataset job was {status['status']}")
    out = out or Path(f"{status['model']}-{job_id}.tar.gz")
    download(api, job_id, out)
    click.echo(str(out))
