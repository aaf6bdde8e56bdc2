"""models/inspection.py on every family's networks, untrained: stage names and shapes, activations equal to the
modules' own, filters taken from the right weights, and pictures normalised tile by tile."""

import numpy as np
import pytest
import torch

from models import dcgan, inspection, mlp, progan


def dcgan_pair(**config):
    cfg = dcgan.DCGANConfig(height=32, width=32, channels=3, latent_dim=8, base_width=8, **config)
    return dcgan.Generator(cfg).eval(), dcgan.Discriminator(cfg).eval()


def mlp_pair(**config):
    cfg = mlp.MLPConfig(height=8, width=6, channels=1, latent_dim=8, hidden=(16, 30), **config)
    return mlp.Generator(cfg).eval(), mlp.Discriminator(cfg).eval()


def progan_pair():
    cfg = progan.ProGANConfig(height=16, width=16, channels=3, latent_dim=8, base_width=8)
    return progan.Generator(cfg).eval(), progan.Discriminator(cfg).eval()


def shapes(generator, labels=None):
    return {name: tuple(a.shape) for name, a in inspection.activations(generator, torch.randn(1, 8), labels).items()}


def test_each_family_names_its_stages_in_forward_order_with_their_shapes():
    assert shapes(dcgan_pair()[0]) == {"project": (32, 4, 4), "up1": (16, 8, 8), "up2": (8, 16, 16),
                                       "image": (3, 32, 32)}
    # hidden layers are one map of units, as square as the count allows
    assert shapes(mlp_pair()[0]) == {"hidden1": (1, 4, 4), "hidden2": (1, 5, 6), "image": (1, 8, 6)}
    generator, _ = progan_pair()
    assert shapes(generator) == {"4x4": (8, 4, 4), "8x8": (8, 8, 8), "16x16": (8, 16, 16), "image": (3, 16, 16)}
    generator.set_growth(1, 0.5)  # still growing: the 16x16 block never runs
    assert inspection.layer_names(generator) == ["4x4", "8x8", "image"]


def test_activations_are_what_the_modules_compute():
    generator, _ = dcgan_pair(num_classes=3)
    z, labels = torch.randn(1, 8), torch.tensor([2])
    seen = {}
    generator.body[2].register_forward_hook(lambda m, args, out: seen.setdefault("up1", out.clone()))
    with torch.no_grad():
        image = generator(z, labels)
    found = inspection.activations(generator, z, labels)
    torch.testing.assert_close(found["up1"], seen["up1"][0])
    torch.testing.assert_close(found["image"], image[0])


def test_an_unknown_layer_is_refused_with_the_valid_names():
    generator, _ = dcgan_pair()
    with pytest.raises(inspection.UnknownLayer, match="project, up1, up2, image"):
        inspection.layer_maps(generator, torch.randn(1, 8), None, "conv9")


def test_maps_are_normalised_one_by_one_and_capped():
    values = np.stack([np.full((2, 2, 1), 5.0), np.arange(4.0).reshape(2, 2, 1) * -3]
                      + [np.random.rand(2, 2, 1) for _ in range(70)])
    picture = inspection.tiles(values)
    assert (picture.shown, picture.total, picture.scale) == (64, 72, 24)
    cell = 2 + 2 * 24  # each tile carries its gutter
    first, second = picture.image[2:cell, 2:cell, 0], picture.image[2:cell, cell + 2:2 * cell, 0]
    assert (first == 0).all()  # a constant map is black
    assert second[0, 0] == 255 and second[-1, -1] == 0 and second[0, -1] == 170


def test_filters_come_from_the_layers_nearest_the_image():
    generator, discriminator = dcgan_pair(num_classes=2)
    assert inspection.generator_filters(generator).shape == (8, 3, 4, 4)
    torch.testing.assert_close(inspection.discriminator_filters(discriminator), discriminator.body[0].weight[:, :3])
    nearest, _ = dcgan_pair(upsample="nearest")
    assert inspection.generator_filters(nearest).shape == (8, 3, 3, 3)
    generator, discriminator = mlp_pair(num_classes=2, condition="concatenate")
    torch.testing.assert_close(inspection.generator_filters(generator)[5].flatten(), generator.body[-2].weight[:, 5])
    assert inspection.discriminator_filters(discriminator).shape == (30, 1, 8, 6)
    generator, discriminator = progan_pair()
    assert inspection.generator_filters(generator).shape == (8, 3, 1, 1)
    assert inspection.discriminator_filters(discriminator).shape == (8, 3, 1, 1)


def test_the_panels_stand_side_by_side_generator_first():
    generator, discriminator = dcgan_pair()
    image, pictures = inspection.filter_panels(generator, discriminator)
    left, right = (p.image for p in pictures)
    assert image.shape == (max(left.shape[0], right.shape[0]), left.shape[1] + inspection.PANEL_GAP + right.shape[1], 3)
    np.testing.assert_array_equal(image[: left.shape[0], : left.shape[1]], left)
    alone, [picture] = inspection.filter_panels(generator, None)
    np.testing.assert_array_equal(alone, picture.image)


def test_a_colour_filter_keeps_its_hue():
    generator, _ = dcgan_pair()
    weights = inspection.generator_filters(generator).detach().permute(0, 2, 3, 1).numpy()
    tile = inspection.normalise(weights[:1])[0]
    low, high = weights[0].min(), weights[0].max()
    np.testing.assert_allclose(tile, np.rint((weights[0] - low) / (high - low) * 255), atol=1)
