"""`gan export`: a generator from the registry to an ONNX file, checked by onnxruntime against PyTorch."""

from __future__ import annotations

from pathlib import Path

import click

from cli.common import registry_option


@click.command()
@click.argument("model")
@click.option("--version", default="latest", show_default=True, help="latest, best or a version number.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="The .onnx file [default: MODEL-VERSION.onnx].")
@click.option("--check/--no-check", default=True, show_default=True,
              help="Run the file in onnxruntime and compare its images with PyTorch's.")
@click.option("--tolerance", type=float, default=1e-4, show_default=True, help="Largest pixel difference allowed.")
@registry_option
def export(model, version, out, check, tolerance, registry) -> None:
    """Export MODEL's generator to ONNX (inputs z and, if conditional, labels; output images in [-1, 1]).

    \b
    Examples:
      gan export fashion-cdcgan
      gan export my-gan --version 3 --out web/generator.onnx
    """
    from config.settings import CommonSettings
    from models.checkpoint import CheckpointError, load_generator
    from models.names import InvalidName
    from models.onnx_export import check_onnx, export_onnx
    from models.registry import VersionNotFound

    store = CommonSettings(registry_dir=registry).registry()
    try:
        version = store.resolve(model, version)
        generator, metadata = load_generator(store.path(model, version))
    except (InvalidName, VersionNotFound, CheckpointError) as e:
        raise click.ClickException(str(e)) from None
    out = out or Path(f"{model}-{version}.onnx")
    try:
        export_onnx(generator, metadata, out, model, version)
    except ImportError as e:
        raise click.ClickException(f"{e}; install the export extra: pip install '.[export]'") from None
    click.echo(f"wrote {out} ({out.stat().st_size // 1024} KiB) from {model} version {version}")
    if not check:
        return
    try:
        result = check_onnx(out, generator, metadata, tolerance=tolerance)
    except ImportError:
        click.echo("onnxruntime is not installed: the file was not checked", err=True)
        return
    click.echo(f"onnxruntime vs PyTorch on {result.images} images: max abs difference {result.max_abs_diff:.2e}")
    if not result.ok:
        raise click.ClickException(f"the ONNX file differs from PyTorch by more than {tolerance}")
