import math

import pytest
import torch
import torch.nn.functional as F

from models.progan import (Discriminator, EqualizedConv2d, Generator, PixelNorm, ProGANConfig, canvas_padding,
                           fade_reals, growth, minibatch_stddev)

torch.set_num_threads(1)
CFG = ProGANConfig(height=32, width=32, channels=3, latent_dim=16, base_width=16)


@pytest.fixture(scope="module")
def generator():
    torch.manual_seed(0)
    return Generator(CFG).eval()


def test_a_built_generator_is_at_its_final_resolution(generator):
    assert CFG.levels == 4  # 4, 8, 16, 32
    assert generator.growth_state() == (3, 1.0)
    assert generator(torch.randn(2, 16)).shape == (2, 3, 32, 32)
    assert {"level", "alpha"} <= set(generator.state_dict())  # a checkpoint knows how far it grew


def test_fade_in_at_alpha_0_is_the_previous_level_upsampled(generator):
    z = torch.randn(3, 16)
    generator.set_growth(2, 0.0)
    faded = generator(z)
    old = F.interpolate(generator.to_rgb[1](generator.features(z, 1)), size=(32, 32), mode="nearest")
    assert torch.allclose(faded, old, atol=1e-6)
    generator.set_growth(1, 1.0)
    assert torch.allclose(faded, generator(z), atol=1e-6)


def test_fade_in_at_alpha_1_is_the_new_layer_and_in_between_a_blend(generator):
    z = torch.randn(3, 16)
    new = F.interpolate(generator.to_rgb[2](generator.features(z, 2)), size=(32, 32), mode="nearest")
    generator.set_growth(2, 1.0)
    assert torch.allclose(generator(z), new, atol=1e-6)
    generator.set_growth(1, 1.0)
    old = generator(z)
    generator.set_growth(2, 0.25)
    assert torch.allclose(generator(z), 0.75 * old + 0.25 * new, atol=1e-5)


def test_discriminator_fade_in_at_alpha_0_sees_what_the_previous_level_saw():
    torch.manual_seed(0)
    d = Discriminator(CFG)
    x = torch.randn(4, 3, 32, 32)
    d.set_growth(3, 0.0)
    faded = d(x)
    d.set_growth(2, 1.0)
    assert torch.allclose(faded, d(x), atol=1e-5)
    d.set_growth(3, 1.0)
    assert not torch.allclose(faded, d(x), atol=1e-3)


def test_growth_schedule_trains_4x4_then_fades_in_and_stabilises_each_level():
    assert growth(0, 4, 10) == (0, 1.0)
    assert growth(10, 4, 10) == (1, 0.0)
    assert growth(15, 4, 10) == (1, 0.5)
    assert growth(20, 4, 10) == (1, 1.0)
    assert growth(55, 4, 10) == (3, 0.5)
    assert growth(70, 4, 10) == (3, 1.0)
    assert growth(10_000, 4, 10) == (3, 1.0)


def test_minibatch_stddev_appends_one_map_that_is_zero_for_identical_samples():
    same = torch.randn(1, 5, 4, 4).repeat(8, 1, 1, 1)
    out = minibatch_stddev(same)
    assert out.shape == (8, 6, 4, 4)
    assert out[:, -1].abs().max() < 1e-3
    assert minibatch_stddev(torch.randn(8, 5, 4, 4))[:, -1].mean() > 0.5


def test_equalized_learning_rate_keeps_unit_weights_and_scales_at_run_time():
    conv = EqualizedConv2d(32, 8, 3, 1)
    assert conv.weight.std().item() == pytest.approx(1.0, abs=0.1)
    assert conv.scale == pytest.approx(math.sqrt(2 / (32 * 9)))


def test_pixel_norm_gives_every_pixel_unit_mean_square_features():
    x = PixelNorm()(torch.randn(2, 8, 4, 4) * 7)
    assert torch.allclose(x.pow(2).mean(dim=1), torch.ones(2, 4, 4), atol=1e-4)


def test_sizes_it_cannot_grow_are_refused():
    for side in (20, 27, 40):  # too far below a power of two, or odd
        with pytest.raises(ValueError, match="power of two"):
            ProGANConfig(height=side, width=side)
    with pytest.raises(ValueError, match="square"):
        ProGANConfig(height=32, width=64)


def test_a_28_pixel_model_grows_on_a_32_canvas_and_answers_28_pixel_images():
    config = ProGANConfig(height=28, width=28, padding=canvas_padding(28, 28), base_width=8)
    assert config.padding == 2 and config.levels == 4
    G, D = Generator(config), Discriminator(config)
    for level, alpha in ((0, 1.0), (2, 0.5), (3, 1.0)):
        G.set_growth(level, alpha)
        D.set_growth(level, alpha)
        images = G(torch.randn(4, config.latent_dim))
        assert images.shape == (4, 1, 28, 28)
        assert D(images).shape == (4,)


def test_real_images_fade_between_two_resolutions_as_the_generators_output_does():
    x = torch.randn(2, 1, 32, 32)
    low = F.interpolate(F.avg_pool2d(x, 4), size=(32, 32), mode="nearest")  # what level 1 (8x8) sees
    config = {"padding": 0}
    assert torch.allclose(fade_reals(config, x, 2, 0.0), low, atol=1e-6)
    high = F.interpolate(F.avg_pool2d(x, 2), size=(32, 32), mode="nearest")
    assert torch.allclose(fade_reals(config, x, 2, 1.0), high, atol=1e-6)
    assert torch.allclose(fade_reals(config, x, 2, 0.25), 0.75 * low + 0.25 * high, atol=1e-6)
    assert fade_reals(config, x, 3, 1.0) is x  # at the final level reals pass untouched


def test_on_a_padded_canvas_real_images_fade_as_the_generators_cropped_output_does():
    x = torch.randn(2, 1, 28, 28)
    canvas = F.pad(x, (2, 2, 2, 2), value=-1.0)
    low = F.interpolate(F.avg_pool2d(canvas, 4), size=(32, 32), mode="nearest")[:, :, 2:30, 2:30]
    assert torch.allclose(fade_reals({"padding": 2}, x, 2, 0.0), low, atol=1e-6)
    assert torch.equal(fade_reals({"padding": 2}, x, 3, 1.0), x)


def test_by_default_growing_takes_the_first_half_of_the_steps():
    from models.spec import TrainSpec

    spec = TrainSpec.model_validate({"model": "p", "dataset": {"kind": "synthetic"}, "architecture": "progan",
                                     "image_size": 32, "steps": 1200})
    config = spec.arch.make_config(spec, 0)
    level, alpha = spec.arch.growth(config, 599, spec.steps, None)
    assert level == 3 and alpha < 1.0  # 32x32 still fading in just before half-way
    assert spec.arch.growth(config, 600, spec.steps, None) == (3, 1.0)
    assert spec.arch.growth(config, 1199, spec.steps, None) == (3, 1.0)
