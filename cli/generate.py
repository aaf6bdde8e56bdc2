"""`gan generate`: images from seeds, latents or a count, written as PNG files, through the API or locally."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import click

from cli.common import api_option, local_runner, registry_option, request


def _seeds(value: str | None) -> list[int] | None:
    if value is None:
        return None
    try:
        seeds = [int(s) for s in value.split(",") if s.strip()]
    except ValueError:
        raise click.BadParameter("give comma-separated whole numbers, e.g. 1,2,3", param_hint="--seeds") from None
    if not seeds or min(seeds) < 0:
        raise click.BadParameter("give at least one seed, none negative", param_hint="--seeds")
    return seeds


def _latents(path: Path | None) -> list[list[float]] | None:
    if path is None:
        return None
    try:
        rows = json.loads(path.read_text())
        assert isinstance(rows, list) and rows and all(isinstance(r, list) for r in rows)
        return rows
    except (ValueError, AssertionError):
        raise click.BadParameter("a JSON list of latents, each a list of numbers", param_hint="--latents") from None


def _render_local(registry: Path, model: str, version: str, seeds, latents, n, label, truncation, grid):
    """(version, seeds, PNGs) from the registry on disk, by the same code the API serves with."""
    from app.serving import InvalidRequest, Job, checked_latents, label_indices, random_seeds
    from models.checkpoint import CheckpointError
    from models.names import InvalidName
    from models.provenance import Provenance
    from models.registry import VersionNotFound

    runner = local_runner(registry)
    try:
        loaded = runner.get(model, runner.registry.resolve(model, version))
        seeds = random_seeds(n) if n else seeds
        count = len(latents) if latents is not None else len(seeds)
        labels = label_indices(None if label is None else [label], count, loaded, "label")
        job = Job(seeds=None if latents is not None else seeds, truncation=truncation,
                  latents=None if latents is None else checked_latents(latents, loaded, "latents"),
                  labels=labels, output="png" if grid else "pngs")
        [pngs] = runner.render(loaded.name, loaded.version, [job])
        # the same facts in the same files as the API writes
        provenance = Provenance.of(loaded, None if latents is not None else seeds,
                                   None if labels is None else [loaded.classes[i] for i in labels], truncation)
        stamped = [provenance.stamp(pngs[0])] if grid else \
            [provenance.of_image(i).stamp(png) for i, png in enumerate(pngs)]
        return loaded.version, seeds, stamped
    except (InvalidName, VersionNotFound, CheckpointError) as e:
        raise click.ClickException(str(e)) from None
    except InvalidRequest as e:
        raise click.ClickException(f"{e.field}: {e.message}") from None


@click.command()
@click.option("--model", required=True, help="Model name, e.g. fashion-cdcgan.")
@click.option("--version", default="latest", show_default=True, help="latest, best or a version number.")
@click.option("--seeds", help="Comma-separated seeds, e.g. 1,2,3: the same seed always gives the same image.")
@click.option("--latents", "latents_file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="A JSON file holding a list of latent vectors.")
@click.option("-n", "count", type=click.IntRange(1, 1024), help="Draw this many random seeds (printed).")
@click.option("--label", help="Class name or index, for conditional models.")
@click.option("--truncation", type=click.FloatRange(0, 2, min_open=True), default=1.0, show_default=True)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("."), show_default=True,
              help="Directory the PNG files go to.")
@click.option("--grid", is_flag=True, help="One PNG grid instead of one file per image.")
@click.option("--local", is_flag=True, help="Load the generator from --registry instead of asking the API.")
@api_option
@registry_option
def generate(model, version, seeds, latents_file, count, label, truncation, out, grid, local, api, registry):
    """Generate images into PNG files.

    \b
    Examples:
      gan generate --model fashion-cdcgan --seeds 1,2,3 --label Sneaker --out shoes/
      gan generate --model fashion-cdcgan -n 16 --label Bag --grid
      gan generate --model my-gan --latents latents.json --local
    """
    seeds, latents = _seeds(seeds), _latents(latents_file)
    if sum(x is not None for x in (seeds, latents, count)) != 1:
        raise click.UsageError("give exactly one of --seeds, --latents or -n")
    parsed_label = int(label) if label is not None and label.isdigit() else label
    out.mkdir(parents=True, exist_ok=True)
    if local:
        served, seeds, pngs = _render_local(registry, model, version, seeds, latents, count, parsed_label,
                                            truncation, grid)
    else:
        body = {"model": model, "version": version, "truncation": truncation,
                **({"seeds": seeds} if seeds else {"latents": latents} if latents else {"n": count})}
        if parsed_label is not None:
            body["labels"] = [parsed_label]
        if grid:
            r = request(api, "POST", "/generate", json={**body, "format": "png"})
            served, pngs = r.headers["x-model-version"], [r.content]
            seeds = [int(s) for s in r.headers.get("x-seeds", "").split(",") if s] or seeds
        else:
            answer = request(api, "POST", "/generate", json={**body, "format": "json"}).json()
            served = answer["version"]
            pngs = [base64.b64decode(image["png_base64"]) for image in answer["images"]]
            seeds = [image["seed"] for image in answer["images"]] if seeds or count else None
    if grid:
        names = [f"{model}-{served}-grid.png"]
    elif seeds:
        names = [f"{model}-{served}-seed{seed}.png" for seed in seeds]
    else:
        names = [f"{model}-{served}-latent{i}.png" for i in range(len(pngs))]
    for name, png in zip(names, pngs):
        (out / name).write_bytes(png)
        click.echo(out / name)
    if count and seeds:
        click.echo(f"seeds: {','.join(map(str, seeds))}", err=True)
