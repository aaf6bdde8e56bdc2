import json

import pytest
import torch
from safetensors.torch import load_file

from models import checkpoint
from models.registry import Registry
from tests.support import train_tiny


@pytest.fixture(scope="module")
def version_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("ckpt")
    (version,) = train_tiny(root, "m", "cdcgan", steps=2)
    return Registry(root).path("m", version)


def test_round_trip_is_bit_identical(version_dir):
    generator, metadata = checkpoint.load_generator(version_dir)
    saved = load_file(str(version_dir / checkpoint.WEIGHTS))
    for key, value in generator.state_dict().items():
        assert torch.equal(value, saved[key])
    assert metadata["weights_sha256"] == checkpoint.sha256_file(version_dir / checkpoint.WEIGHTS)


def test_metadata_records_what_serving_and_users_need(version_dir):
    metadata = checkpoint.read_metadata(version_dir)
    assert metadata["architecture"] == "cdcgan"
    assert metadata["latent_dim"] == 100
    assert metadata["image"] == {"height": 32, "width": 32, "channels": 1}
    assert len(metadata["classes"]) == 10
    assert metadata["step"] == 2
    assert metadata["dataset"]["kind"] == "synthetic"
    assert metadata["training"]["steps"] == 2
    assert metadata["created_at"].endswith("Z")
    assert set(metadata["files"]) == {checkpoint.WEIGHTS, checkpoint.TRAINING, checkpoint.SAMPLES,
                                      checkpoint.DISCRIMINATOR}


def copy_with_a_flipped_byte(version_dir, tmp_path, name: str):
    """A copy of the version whose file `name` has its last byte flipped: a truncated or damaged write."""
    broken = tmp_path / "v"
    broken.mkdir()
    for f in version_dir.iterdir():
        (broken / f.name).write_bytes(f.read_bytes())
    data = bytearray((broken / name).read_bytes())
    data[-1] ^= 0xFF
    (broken / name).write_bytes(bytes(data))
    return broken


def test_the_trained_discriminator_is_kept_and_checked_like_the_generator(version_dir, tmp_path):
    discriminator, metadata = checkpoint.load_discriminator(version_dir)
    tensors, _ = checkpoint.load_training_state(version_dir)
    for key, value in discriminator.state_dict().items():  # the same weights the job trained
        assert torch.equal(value, tensors[f"d.{key}"]), key
    with pytest.raises(checkpoint.CheckpointError, match="sha256"):
        checkpoint.load_discriminator(copy_with_a_flipped_byte(version_dir, tmp_path, checkpoint.DISCRIMINATOR))


def test_weights_that_do_not_match_their_hash_are_refused(version_dir, tmp_path):
    with pytest.raises(checkpoint.CheckpointError, match="sha256"):
        checkpoint.load_generator(copy_with_a_flipped_byte(version_dir, tmp_path, checkpoint.WEIGHTS))


def test_invalid_json_metadata_is_refused(tmp_path):
    (tmp_path / checkpoint.METADATA).write_text("{not json")
    with pytest.raises(checkpoint.CheckpointError, match="not valid JSON"):
        checkpoint.load_generator(tmp_path)


def test_weights_of_another_shape_are_refused(version_dir, tmp_path):
    metadata = checkpoint.read_metadata(version_dir)
    metadata["generator_config"]["base_width"] = 16  # the weights were trained at 8
    written = checkpoint.write_checkpoint(tmp_path, metadata, load_file(str(version_dir / checkpoint.WEIGHTS)))
    assert written["files"][checkpoint.WEIGHTS]
    with pytest.raises(checkpoint.CheckpointError, match="does not fit"):
        checkpoint.load_generator(tmp_path)


def test_a_pickle_file_is_never_loaded(version_dir, tmp_path):
    metadata = checkpoint.read_metadata(version_dir)
    torch.save({"x": torch.zeros(1)}, tmp_path / checkpoint.WEIGHTS)  # a pickle under the weights' name
    metadata["files"][checkpoint.WEIGHTS] = checkpoint.sha256_file(tmp_path / checkpoint.WEIGHTS)
    (tmp_path / checkpoint.METADATA).write_text(json.dumps(metadata))
    with pytest.raises(checkpoint.CheckpointError):
        checkpoint.load_generator(tmp_path)


def test_optimizer_state_round_trips():
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.5, 0.9))
    model(torch.randn(4, 3)).sum().backward()
    opt.step()
    tensors, info = checkpoint.flatten_optimizer(opt.state_dict(), "opt")
    restored = checkpoint.unflatten_optimizer(tensors, info, "opt")
    fresh = torch.optim.Adam(model.parameters(), lr=1.0)
    fresh.load_state_dict(restored)
    assert fresh.param_groups[0]["lr"] == 1e-3
    for a, b in zip(opt.state_dict()["state"].values(), fresh.state_dict()["state"].values()):
        assert all(torch.equal(a[k], b[k]) for k in a)
