import pytest
import torch

from models.latents import PRIORS, prior_of, seed_latent, seed_latents, slerp, truncate, walk


def test_a_seed_gives_the_same_latent_whatever_the_batch():
    alone = seed_latent(42, 100)
    assert torch.equal(seed_latents([1, 42, 7], 100)[1], alone)
    assert not torch.equal(seed_latent(43, 100), alone)


@pytest.mark.parametrize("dim", [1, 8, 15, 16, 17, 100, 512])
def test_a_seed_latent_is_its_own_generators_first_normals(dim):
    """Pinned versions' seed URLs are served as immutable: the seed-to-latent mapping must stay torch's
    `randn(dim)` from a fresh generator, on both sides of its 16-value vectorised path."""
    seeds = [0, 1, 42, 2**31 - 1, 2**63 - 1, 7, 42]
    expected = torch.stack([torch.randn(dim, generator=torch.Generator().manual_seed(s)) for s in seeds])
    assert torch.equal(seed_latents(seeds, dim), expected)


def test_seed_latents_keep_torchs_values():
    assert seed_latent(42, 100)[:3].tolist() == pytest.approx([1.9269153, 1.4872841, 0.9007172], abs=1e-6)
    assert seed_latent(42, 8)[:3].tolist() == pytest.approx([0.3366904, 0.1288094, 0.2344624], abs=1e-6)


def test_walks_start_and_end_at_their_endpoints():
    a, b = seed_latent(1, 100), seed_latent(2, 100)
    for method in ("slerp", "lerp"):
        path = walk(a, b, 5, method)
        assert path.shape == (5, 100)
        assert torch.allclose(path[0], a, atol=1e-5) and torch.allclose(path[-1], b, atol=1e-5)


def test_slerp_keeps_the_norm_of_orthogonal_unit_vectors():
    a, b = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    middle = slerp(a, b, torch.tensor([0.5]))[0]
    assert torch.allclose(middle.norm(), torch.tensor(1.0))
    assert torch.allclose(middle, torch.tensor([0.5**0.5, 0.5**0.5]))


def test_the_normal_prior_gives_the_seed_latents_of_before():
    """Versions trained before priors had a choice keep their seed URLs' images byte for byte."""
    seeds = [0, 42, 2**31 - 1]
    assert torch.equal(PRIORS["normal"].seed_latents(seeds, 100), seed_latents(seeds, 100))
    assert prior_of({"latent_dim": 100}) is PRIORS["normal"]


def test_uniform_seed_latents_are_deterministic_and_inside_the_cube():
    uniform = PRIORS["uniform"]
    latents = uniform.seed_latents(list(range(200)), 64)
    assert torch.equal(uniform.seed_latents([7], 64)[0], latents[7])
    assert latents.abs().max() <= 1.0
    assert latents.min() < -0.99 and latents.max() > 0.99  # the whole cube, not the normal's centre
    assert not torch.equal(latents[0], seed_latent(0, 64))


def test_training_draws_from_the_prior():
    normal, uniform = PRIORS["normal"], PRIORS["uniform"]
    draw = uniform.sample(4096, 8, torch.Generator().manual_seed(0))
    assert draw.shape == (4096, 8) and draw.abs().max() <= 1.0
    assert draw.mean().abs() < 0.05 and (draw.var() - 1 / 3).abs() < 0.02
    assert torch.equal(normal.sample(3, 8, torch.Generator().manual_seed(0)),
                       torch.randn(3, 8, generator=torch.Generator().manual_seed(0)))


def test_truncating_a_uniform_latent_keeps_it_inside_the_cube():
    latents = PRIORS["uniform"].seed_latents(list(range(50)), 32)
    for truncation in (0.25, 0.5, 0.9):
        truncated = truncate(latents, truncation)
        assert truncated.abs().max() <= truncation and torch.allclose(truncated, latents * truncation)


def test_each_prior_walks_by_its_own_default():
    corner, other = torch.ones(4), -torch.ones(4)
    assert PRIORS["normal"].walk_method == "slerp" and PRIORS["uniform"].walk_method == "lerp"
    assert torch.equal(PRIORS["uniform"].walk(corner, other, 5), walk(corner, other, 5, "lerp"))


def test_a_uniform_slerp_is_clipped_to_the_cube():
    """Between two corners of the cube, slerp's arc leaves it; the walk keeps its ends and stays inside."""
    a, b = torch.tensor([1.0, 1.0, -1.0]), torch.tensor([1.0, -1.0, 1.0])
    assert slerp(a, b, torch.tensor([0.5])).abs().max() > 1.0
    path = PRIORS["uniform"].walk(a, b, 5, "slerp")
    assert path.abs().max() <= 1.0 and torch.equal(path[0], a) and torch.allclose(path[-1], b)
