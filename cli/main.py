"""The `gan` command group, and the two long-running ones: serve and worker."""

from __future__ import annotations

import click

from cli.dataset import dataset
from cli.export import export
from cli.generate import generate
from cli.models import models
from cli.train import train


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
def gan() -> None:
    """Train GANs and serve their generators.

    \b
    Examples:
      gan serve                                  # the API and playground on http://127.0.0.1:8000
      gan worker                                 # take training jobs from Redis (start several to scale)
      gan train --model my-gan --steps 2000 --follow
      gan train --local --model my-gan --dataset fashion-mnist --architecture cdcgan --image-size 28
      gan generate --model fashion-cdcgan --seeds 1,2,3 --label Sneaker --out images/
      gan models list
      gan export fashion-cdcgan --out fashion.onnx
      gan dataset --model fashion-cdcgan -n 60000 --format idx --out synthetic.tar.gz

    Settings come from GAN_* environment variables (see the README's configuration table).
    """


@gan.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
def serve(host: str, port: int) -> None:
    """Run the API and the playground (uvicorn app.main:app).

    \b
    Examples:
      gan serve
      GAN_LOG_FORMAT=json gan serve --host 0.0.0.0 --port 8080
    """
    import uvicorn

    # log_config=None: the app installs its own text or JSON logging (GAN_LOG_FORMAT)
    uvicorn.run("app.main:app", host=host, port=port, log_config=None)


@gan.command()
def worker() -> None:
    """Run an RQ worker that trains the jobs queued in Redis (python -m worker).

    \b
    Examples:
      gan worker
      GAN_QUEUES=high,training GAN_REDIS_URL=redis://redis:6379/0 gan worker
    """
    from worker.__main__ import main as worker_main

    raise SystemExit(worker_main([]))


for command in (train, generate, models, export, dataset):
    gan.add_command(command)


def main() -> None:
    gan(prog_name="gan")
