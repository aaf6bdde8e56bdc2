"""The interface a model's first version fixes is recorded, and deleting versions never changes it."""

import pytest

from models import interface
from models.registry import Registry
from tests.support import train_tiny


def test_the_first_version_fixes_the_interface_for_good(tmp_path):
    train_tiny(tmp_path, "m", "cdcgan", steps=2)
    registry = Registry(tmp_path)
    fixed = interface.fixed(registry, "m")
    assert fixed["latent_dim"] == 100 and fixed["classes"][0] == "bar-0" and fixed["fixed_by"] == "000001"
    assert fixed["image"] == {"height": 32, "width": 32, "channels": 1}
    train_tiny(tmp_path, "m", "dcgan", steps=2, image_size=16)  # as a worker that skipped the checks would
    registry.delete("m", "000001")
    assert interface.fixed(registry, "m") == fixed


def test_a_model_without_versions_has_no_interface_yet(tmp_path):
    assert interface.fixed(Registry(tmp_path), "new") is None


def test_differences_name_each_field_with_both_values():
    fixed = {"latent_dim": 100, "latent_distribution": "normal", "classes": ["a", "b"],
             "image": {"height": 28, "width": 28, "channels": 1}}
    other = {"latent_dim": 100, "latent_distribution": "uniform", "classes": ["b", "a"],
             "image": {"height": 32, "width": 32, "channels": 1}}
    assert interface.differences(fixed, other) == ["latent_distribution: uniform, not normal",
                                                   "classes: ['b', 'a'], not ['a', 'b']", "image: 32x32x1, not 28x28x1"]
    assert interface.differences(fixed, {**fixed, "classes": interface.SOME_CLASSES}) == []


def test_a_job_with_another_latent_distribution_is_refused(tmp_path):
    train_tiny(tmp_path, "m", "dcgan", steps=2)
    spec = _spec(architecture="dcgan", latent_distribution="uniform")
    with pytest.raises(interface.InterfaceChanged, match="latent_distribution: uniform, not normal"):
        interface.refuse_changes(Registry(tmp_path), spec)


def test_an_interface_recorded_before_latent_priors_reads_as_normal(tmp_path):
    registry = Registry(tmp_path)
    train_tiny(tmp_path, "m", "dcgan", steps=2)
    recorded = {k: v for k, v in interface.fixed(registry, "m").items() if k != "latent_distribution"}
    registry.write_record("m", interface.INTERFACE, recorded)
    assert interface.fixed(registry, "m")["latent_distribution"] == "normal"


def _spec(**fields):
    from models.spec import TrainSpec
    return TrainSpec.model_validate({"model": "m", "dataset": {"kind": "folder", "path": "shoes"},
                                     "architecture": "cdcgan", "image_size": 32, **fields})


def test_a_worker_refuses_a_job_whose_data_has_other_class_names(tmp_path):
    """The API cannot know a folder's classes; the worker checks them once it has read the data."""
    train_tiny(tmp_path, "m", "cdcgan", steps=2)
    registry = Registry(tmp_path)
    interface.refuse_changes(registry, _spec(), [f"bar-{i}" for i in range(10)])
    with pytest.raises(interface.InterfaceChanged, match=r"classes: \['boot', 'sandal'\], not \['bar-0'"):
        interface.refuse_changes(registry, _spec(), ["boot", "sandal"])


def test_a_job_that_resumes_is_left_to_the_version_it_continues(tmp_path):
    train_tiny(tmp_path, "m", "cdcgan", steps=2)
    interface.refuse_changes(Registry(tmp_path), _spec(latent_dim=64, resume={"model": "m"}), ["boot"])
