import pytest
import torch
from torch import nn

from models.losses import get_objective
from models.penalties import clip_weights, drift_penalty, gradient_penalty, mode_seeking


def test_gradient_penalty_of_a_linear_critic_is_the_squared_distance_of_its_weight_norm_from_one():
    w = torch.tensor([[[[2.0, 0.0], [0.0, 2.0]]]])  # ||w|| = sqrt(8)
    critic = lambda x: (x * w).flatten(1).sum(1)  # gradient w at every point
    real, fake = torch.randn(5, 1, 2, 2), torch.randn(5, 1, 2, 2)
    gp = gradient_penalty(critic, real, fake, torch.rand(5))
    assert gp.item() == pytest.approx((8 ** 0.5 - 1) ** 2, rel=1e-6)


def test_gradient_penalty_is_taken_at_the_interpolate_between_real_and_fake():
    critic = lambda x: 0.5 * x.flatten(1).pow(2).sum(1)  # gradient x: the penalty sees the interpolate itself
    real = torch.tensor([[3.0, 4.0], [0.0, 2.0]])
    fake = torch.tensor([[0.0, 0.0], [0.0, 0.0]])
    gp = gradient_penalty(critic, real, fake, torch.tensor([0.5, 0.25]))
    # interpolates (1.5, 2) with norm 2.5, and (0, 0.5) with norm 0.5: mean of 1.5^2 and 0.5^2
    assert gp.item() == pytest.approx((2.25 + 0.25) / 2)


def test_gradient_penalty_is_differentiable_for_the_critic_step():
    critic = nn.Linear(4, 1)
    gp = gradient_penalty(lambda x: critic(x).view(-1), torch.randn(3, 4), torch.randn(3, 4), torch.rand(3))
    gp.backward()
    assert critic.weight.grad is not None and critic.weight.grad.abs().sum() > 0


def test_weight_clipping_clamps_every_critic_parameter():
    critic = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Linear(8, 1))
    clip_weights(critic, 0.01)
    assert all(p.abs().max() <= 0.01 for p in critic.parameters())


def test_wasserstein_losses_are_the_critic_gap_and_its_negation():
    w = get_objective("wasserstein")
    real, fake = torch.tensor([2.0, 4.0]), torch.tensor([1.0, -1.0])
    assert w.d_loss(real, fake, torch.ones(2)).item() == pytest.approx(0.0 - 3.0)
    assert w.g_loss(fake).item() == pytest.approx(0.0)
    assert not w.probability_output


def test_hinge_losses_count_only_outputs_inside_the_margin():
    h = get_objective("hinge")
    real, fake = torch.tensor([2.0, 0.5]), torch.tensor([-3.0, 0.0])
    # real: max(0, 1 - 2) = 0, max(0, 1 - 0.5) = 0.5; fake: max(0, 1 - 3) = 0, max(0, 1 + 0) = 1
    assert h.d_loss(real, fake, torch.ones(2)).item() == pytest.approx(0.25 + 0.5)
    assert h.g_loss(fake).item() == pytest.approx(1.5)
    assert not h.probability_output


def test_drift_penalty_is_the_mean_square_of_real_outputs():
    assert drift_penalty(torch.tensor([1.0, 3.0])).item() == pytest.approx(5.0)


def test_mode_seeking_is_the_inverse_ratio_of_sample_to_latent_distances_over_disjoint_pairs():
    z = torch.tensor([[0.0, 0.0], [1.0, 1.0], [0.0, 0.0], [2.0, 2.0]])  # latent gaps 1 and 2
    fake = torch.tensor([[0.0], [3.0], [0.0], [2.0]])  # sample gaps 3 and 2: ratios 3 and 1
    assert mode_seeking(fake, z).item() == pytest.approx(1 / 2.0, rel=1e-4)


def test_mode_seeking_pairs_only_samples_of_one_class():
    z = torch.tensor([[0.0], [1.0], [2.0], [3.0]])
    fake = torch.tensor([[0.0], [5.0], [0.0], [1.0]])
    # by class the pairs are (0, 2) and (1, 3): ratios 0 / 2 and 4 / 2; in order, (0, 1) and (2, 3): 5 and 1
    assert mode_seeking(fake, z, torch.tensor([0, 1, 0, 1])).item() == pytest.approx(1.0, rel=1e-4)
    assert mode_seeking(fake, z).item() == pytest.approx(1 / 3.0, rel=1e-4)


def test_mode_seeking_pushes_alike_samples_apart_and_is_zero_without_a_pair_of_one_class():
    fake = (0.01 * torch.randn(4, 3, generator=torch.Generator().manual_seed(0))).requires_grad_(True)
    z = torch.randn(4, 5)
    mode_seeking(fake, z).backward()
    moved = fake.detach() - 0.1 * fake.grad.sign()  # a step down the term
    for a, b in ((0, 1), (2, 3)):
        assert (moved[a] - moved[b]).abs().sum() > (fake[a] - fake[b]).abs().sum()
    assert mode_seeking(moved, z) < mode_seeking(fake, z)
    assert mode_seeking(fake, z, torch.tensor([0, 1, 2, 3])).item() == 0.0
