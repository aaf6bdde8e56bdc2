"""`gan models`: list, show and delete versions in the registry on disk."""

from __future__ import annotations

import json

import click

from cli.common import registry_option


def _store(registry):
    from config.settings import CommonSettings

    return CommonSettings(registry_dir=registry).registry()


@click.group()
def models() -> None:
    """List, show and delete model versions in the registry.

    \b
    Examples:
      gan models list
      gan models show fashion-cdcgan
      gan models delete my-gan 000003
    """


@models.command("list")
@registry_option
def list_models(registry) -> None:
    """Each model with its versions, newest last, and what it makes."""
    from models.checkpoint import CheckpointError, read_metadata

    store = _store(registry)
    names = store.models()
    if not names:
        click.echo(f"no models in {registry}")
        return
    click.echo(f"{'model':<24} {'latest':<8} {'versions':<9} {'architecture':<12} image      classes")
    for name in names:
        versions = store.versions(name)
        if not versions:
            continue
        try:
            meta = read_metadata(store.path(name, versions[-1]))
        except CheckpointError as e:
            click.echo(f"{name:<24} {versions[-1]:<8} {len(versions):<9} (unreadable: {e})")
            continue
        image = meta["image"]
        shape = f"{image['width']}x{image['height']}x{image['channels']}"
        classes = len(meta.get("classes") or []) or "-"
        click.echo(f"{name:<24} {versions[-1]:<8} {len(versions):<9} {meta['architecture']:<12} {shape:<10} {classes}")


@models.command()
@click.argument("name")
@registry_option
def show(name, registry) -> None:
    """The metadata of every version of NAME, as JSON."""
    from models.checkpoint import CheckpointError, read_metadata
    from models.names import InvalidName

    store = _store(registry)
    try:
        versions = store.versions(name)
    except InvalidName as e:
        raise click.ClickException(str(e)) from None
    if not versions:
        raise click.ClickException(f"unknown model {name!r} in {registry}; `gan models list` shows what there is")
    details = {}
    for v in versions:
        try:
            details[v] = read_metadata(store.path(name, v))
        except CheckpointError as e:
            details[v] = {"error": str(e)}
    click.echo(json.dumps({"name": name, "latest": versions[-1], "best": store.best(name), "versions": details},
                          indent=2))


@models.command()
@click.argument("name")
@click.argument("version")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@registry_option
def delete(name, version, yes, registry) -> None:
    """Delete VERSION of NAME (a running service stops serving it at its next registry poll)."""
    from models.names import InvalidName, format_version, parse_version
    from models.registry import VersionNotFound

    store = _store(registry)
    try:
        version = format_version(parse_version(version))
        store.path(name, version)
    except (InvalidName, VersionNotFound, ValueError) as e:
        raise click.ClickException(str(e)) from None
    if not yes:
        click.confirm(f"delete version {version} of {name}?", abort=True)
    try:
        store.delete(name, version)
    except PermissionError as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"deleted {name} version {version}")
