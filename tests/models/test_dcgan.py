import pytest
import torch

from models.dcgan import DCGANConfig, Discriminator, Generator, canvas_padding, init_weights, stem_size


@pytest.mark.parametrize("height,width,channels", [(28, 28, 1), (32, 32, 1), (64, 64, 3), (128, 160, 3)])
def test_generator_and_discriminator_shapes_for_each_size(height, width, channels):
    cfg = DCGANConfig(height=height, width=width, channels=channels, base_width=8)
    images = Generator(cfg)(torch.randn(3, 100))
    assert images.shape == (3, channels, height, width)
    assert images.min() >= -1 and images.max() <= 1  # tanh output
    assert Discriminator(cfg)(images).shape == (3,)


def test_paper_64x64_generator_goes_1024_512_256_128():
    g = Generator(DCGANConfig(height=64, width=64, channels=3, base_width=128))
    widths = [m.out_channels for m in g.body if isinstance(m, torch.nn.ConvTranspose2d)]
    assert g.c0 == 1024 and (g.h0, g.w0) == (4, 4)
    assert widths == [512, 256, 128, 3]


@pytest.mark.parametrize("kernel_size,upsample", [(5, "transposed"), (4, "nearest")])
def test_kernel_and_upsampling_variants_keep_the_size(kernel_size, upsample):
    cfg = DCGANConfig(height=32, width=32, channels=1, base_width=8, kernel_size=kernel_size, upsample=upsample)
    assert Generator(cfg)(torch.randn(2, 100)).shape == (2, 1, 32, 32)
    assert Discriminator(cfg)(torch.zeros(2, 1, 32, 32)).shape == (2,)


def test_conditional_generator_depends_on_label():
    cfg = DCGANConfig(height=28, width=28, channels=1, base_width=8, num_classes=10)
    g = Generator(cfg).eval()
    z = torch.randn(1, 100)
    a, b = g(z, torch.tensor([0])), g(z, torch.tensor([5]))
    assert not torch.equal(a, b)
    assert Discriminator(cfg)(a, torch.tensor([0])).shape == (1,)


def test_conditional_generator_refuses_missing_labels():
    g = Generator(DCGANConfig(height=28, width=28, channels=1, base_width=8, num_classes=10))
    with pytest.raises(ValueError, match="needs labels"):
        g(torch.randn(1, 100))


def test_stem_sizes():
    assert stem_size(28, 28) == (7, 7, 2)
    assert stem_size(32, 32) == (4, 4, 3)
    assert stem_size(128, 160) == (4, 5, 5)
    with pytest.raises(ValueError, match="cannot be built"):
        stem_size(27, 27)


def test_sizes_that_would_grow_from_a_larger_stem_get_a_canvas_that_grows_from_4x4():
    assert canvas_padding(28, 28) == 2  # 32x32: 4 -> 8 -> 16 -> 32
    assert canvas_padding(24, 24) == 4
    assert canvas_padding(28, 36) == 2  # 32x40 from 4x5
    assert canvas_padding(32, 32) == canvas_padding(64, 64) == canvas_padding(128, 160) == 0


def test_a_padded_generator_crops_its_canvas_and_the_discriminator_pads_with_the_background():
    cfg = DCGANConfig(height=28, width=28, channels=1, base_width=8, num_classes=10, padding=2)
    g, d = Generator(cfg), Discriminator(cfg)
    assert (g.h0, g.w0) == (4, 4)
    labels = torch.tensor([0, 1])
    images = g(torch.randn(2, 100), labels)
    assert images.shape == (2, 1, 28, 28)
    d.eval()
    on_canvas = Discriminator(DCGANConfig(height=32, width=32, channels=1, base_width=8, num_classes=10))
    on_canvas.load_state_dict(d.state_dict())
    on_canvas.eval()
    canvas = torch.nn.functional.pad(images, (2, 2, 2, 2), value=-1.0)
    assert torch.allclose(d(images, labels), on_canvas(canvas, labels), atol=1e-6)


def test_spectral_norm_bounds_every_discriminator_weight_and_survives_a_safetensors_round_trip(tmp_path):
    from safetensors.torch import load_file, save_file

    cfg = DCGANConfig(height=28, width=28, channels=1, base_width=8, num_classes=10, d_norm="spectral")
    d = Discriminator(cfg)
    d.apply(init_weights)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in d.modules())
    images, labels = torch.randn(4, 1, 28, 28), torch.tensor([0, 1, 2, 3])
    for _ in range(30):  # power iterations run in training forwards
        d(images, labels)
    convs = [m for m in d.modules() if isinstance(m, torch.nn.Conv2d)]
    for conv in convs:
        sigma = torch.linalg.matrix_norm(conv.weight.detach().flatten(1), ord=2)
        assert sigma.item() == pytest.approx(1.0, abs=0.05)
    save_file({k: v.contiguous() for k, v in d.state_dict().items()}, str(tmp_path / "d.safetensors"))
    again = Discriminator(cfg)
    again.load_state_dict(load_file(str(tmp_path / "d.safetensors")))
    d.eval(), again.eval()
    assert torch.equal(d(images, labels), again(images, labels))
