import pytest
import torch
from torch import nn

from models.mlp import Discriminator, Generator, MLPConfig

torch.set_num_threads(1)


def test_generator_is_the_papers_256_512_1024_mlp_with_batch_norm_and_tanh():
    g = Generator(MLPConfig(height=28, width=28, channels=1))
    linear = [m.out_features for m in g.body if isinstance(m, nn.Linear)]
    assert linear == [256, 512, 1024, 784]
    assert sum(isinstance(m, nn.BatchNorm1d) for m in g.body) == 3
    assert all(m.negative_slope == 0.2 for m in g.body if isinstance(m, nn.LeakyReLU))
    out = g(torch.randn(4, 100))
    assert out.shape == (4, 1, 28, 28) and out.abs().max() <= 1


def test_discriminator_mirrors_it_with_dropout_0_4_and_one_logit():
    d = Discriminator(MLPConfig(height=28, width=28, channels=1))
    assert [m.out_features for m in d.body if isinstance(m, nn.Linear)] == [1024, 512, 256, 1]
    assert {m.p for m in d.body if isinstance(m, nn.Dropout)} == {0.4}
    assert d(torch.randn(4, 1, 28, 28)).shape == (4,)


@pytest.mark.parametrize("condition", ["multiply", "concatenate"])
def test_conditional_mlp_depends_on_the_label_and_takes_blended_class_vectors(condition):
    cfg = MLPConfig(height=8, width=8, channels=1, latent_dim=16, num_classes=4, condition=condition)
    g = Generator(cfg).eval()
    z = torch.randn(1, 16)
    a, b = g(z, torch.tensor([0])), g(z, torch.tensor([2]))
    assert not torch.allclose(a, b)
    assert torch.allclose(g(z, torch.tensor([[1.0, 0, 0, 0]])), a)
    assert Discriminator(cfg)(a, torch.tensor([0])).shape == (1,)


def test_condition_modes_are_checked():
    with pytest.raises(ValueError, match="multiply, concatenate"):
        MLPConfig(condition="add")
