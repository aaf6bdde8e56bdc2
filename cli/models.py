"""`gan models`: list, show and delete versions in the registry on disk; delete, pin and unpin through a
running service's management API."""

from __future__ import annotations

import json

import click

from cli.common import api_option, registry_option, request


def _store(registry):
    from config.settings import CommonSettings

    return CommonSettings(registry_dir=registry).registry()


@click.group()
def models() -> None:
    """List, show and delete model versions in the registry; pin `latest` or set `best` through the service,
    with the write key in GAN_API_KEY (never an option: it would show on the command line).

    \b
    Examples:
      gan models list
      gan models show fashion-cdcgan
      gan models delete my-gan 000003
      gan models delete my-gan 3 --api http://127.0.0.1:8000
      gan models pin my-gan 2
      gan models pin my-gan 2 --alias best
      gan models unpin my-gan
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
@click.option("--api", "api", default=None,
              help="Base URL of a running service: delete through its management API, under its rules, "
                   "instead of in the registry on disk.")
@click.option("--force", is_flag=True, help="With --api: delete even the only valid version, or the pinned one.")
@registry_option
def delete(name, version, yes, api, force, registry) -> None:
    """Delete VERSION of NAME (a running service stops serving it at its next registry poll)."""
    from models.names import InvalidName, format_version, parse_version
    from models.registry import VersionNotFound

    try:
        version = format_version(parse_version(version))
    except InvalidName as e:
        raise click.ClickException(str(e)) from None
    if api is not None:
        if not yes:
            click.confirm(f"delete version {version} of {name} from the service at {api}?", abort=True)
        request(api, "DELETE", f"/models/{name}/versions/{version}", params={"force": "true"} if force else {})
        click.echo(f"deleted {name} version {version}")
        return
    store = _store(registry)
    try:
        store.path(name, version)
    except (InvalidName, VersionNotFound) as e:
        raise click.ClickException(str(e)) from None
    if not yes:
        click.confirm(f"delete version {version} of {name}?", abort=True)
    try:
        store.delete(name, version)
    except PermissionError as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"deleted {name} version {version}")


@models.command()
@click.argument("name")
@click.argument("version")
@click.option("--alias", type=click.Choice(["latest", "best"]), default="latest", show_default=True,
              help="latest: serve VERSION as latest until unpinned (a rollback); best: set best by hand.")
@api_option
def pin(name, version, alias, api) -> None:
    """Point ALIAS of NAME at VERSION, through the service; prints the model's aliases."""
    answer = request(api, "PUT", f"/models/{name}/aliases/{alias}", json={"version": version})
    click.echo(json.dumps(answer.json(), indent=2))


@models.command()
@click.argument("name")
@api_option
def unpin(name, api) -> None:
    """Let `latest` of NAME follow the newest valid version again, through the service."""
    answer = request(api, "DELETE", f"/models/{name}/aliases/latest")
    click.echo(json.dumps(answer.json(), indent=2))
