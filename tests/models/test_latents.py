import pytest
import torch

from models.latents import seed_latent, seed_latents, slerp, walk


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
