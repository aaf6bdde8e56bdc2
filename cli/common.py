"""What the subcommands share: the API URL and registry options, HTTP errors as messages, the local runner."""

from __future__ import annotations

import os
from pathlib import Path

import click
import httpx

from config.settings import CommonSettings

API_URL = "http://127.0.0.1:8000"
# the key comes from the environment only: an option would put it on the command line, where any local user
# reads it (ps, /proc/<pid>/cmdline)
API_KEY_VARIABLE = "GAN_API_KEY"


def api_option(f):
    return click.option("--api", "api", envvar="GAN_API_URL", default=API_URL, show_default=True,
                        help="Base URL of a running service (env GAN_API_URL).")(f)


def registry_option(f):
    return click.option("--registry", "registry", type=click.Path(file_okay=False, path_type=Path),
                        envvar="GAN_REGISTRY_DIR", default=lambda: str(CommonSettings().registry_dir),
                        show_default="GAN_REGISTRY_DIR or registry/",
                        help="Registry root to read (and, for delete, write).")(f)


def client(api: str) -> httpx.Client:
    key = os.environ.get(API_KEY_VARIABLE, "").strip()
    return httpx.Client(base_url=api.rstrip("/"), timeout=httpx.Timeout(60, connect=5),
                        headers={"Authorization": f"Bearer {key}"} if key else None)


def check(response: httpx.Response) -> httpx.Response:
    """A 4xx/5xx answer becomes the service's own message, not a traceback."""
    if response.is_success:
        return response
    try:
        detail = response.json().get("detail")
    except ValueError:
        detail = response.text
    if isinstance(detail, list):
        detail = "; ".join(f"{'.'.join(map(str, d.get('loc', [])))}: {d.get('msg')}" for d in detail)
    raise click.ClickException(f"{response.request.method} {response.request.url.path} answered "
                               f"{response.status_code}: {detail}")


def request(api: str, method: str, path: str, **kwargs) -> httpx.Response:
    try:
        with client(api) as c:
            return check(c.request(method, path, **kwargs))
    except httpx.TransportError as e:
        raise click.ClickException(f"cannot reach the service at {api}: {e}; start it with `gan serve` "
                                   "or point --api / GAN_API_URL at it") from None


def local_runner(registry: Path):
    """A runner over the registry (and the shipped default) that prepares versions as the API's inference process
    does, so that both write the same bytes."""
    import torch

    from app.serving import Runner
    from app.settings import Settings

    settings = Settings(registry_dir=registry)
    torch.set_num_threads(settings.torch_thread_count())
    return Runner(settings.registry(), torch.device("cpu"), cache_size=1, precision_for=settings.precision_for)
