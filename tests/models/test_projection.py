"""Projection finds a latent whose rendering matches the image: for an image the generator itself drew, the
search recovers it closely, and the discriminator's features join the loss where a version keeps them."""

from pathlib import Path

import torch

from models import checkpoint
from models.latents import seed_latents
from models.projection import project
from tests.support import train_tiny

torch.set_num_threads(1)


SHIPPED = Path(__file__).resolve().parents[2] / "models" / "shipped" / "fashion-cdcgan" / "000001"


def test_an_image_the_generator_drew_is_recovered_far_better_than_a_random_latent_renders_it():
    generator, metadata = checkpoint.load_generator(SHIPPED)
    discriminator, _ = checkpoint.load_discriminator(SHIPPED)
    dim, sneaker = metadata["latent_dim"], torch.tensor(7)
    with torch.no_grad():
        target = generator(seed_latents([12345], dim), sneaker[None])[0]
        random_error = (generator(seed_latents(list(range(100, 116)), dim), sneaker.expand(16)) - target).pow(2).mean()
    result = project(generator, target, dim, label=sneaker, discriminator=discriminator, steps=100, seconds=60)
    error = (result.image - target).pow(2).mean()
    assert error < random_error / 4, (float(error), float(random_error))
    assert result.steps == 100 and len(result.losses) == 100
    assert {"pixels", "features", "total"} <= set(result.losses[0])
    assert result.losses[-1]["total"] < result.losses[0]["total"]
    assert result.latent.shape == (dim,) and torch.isfinite(result.latent).all()


def test_conditional_models_project_under_the_given_label_and_time_bounds_the_search(tmp_path):
    [version] = train_tiny(tmp_path, "cond", "cdcgan", steps=2)
    generator, metadata = checkpoint.load_generator(tmp_path / "cond" / version)
    target = torch.zeros(1, 32, 32)
    result = project(generator, target, metadata["latent_dim"], label=torch.tensor(3), steps=10_000, seconds=0.5)
    assert 0 < result.steps < 10_000 and result.seconds < 5
    assert "features" not in result.losses[0]  # no discriminator given: pixels alone
