import os
import threading

import pytest

from models.names import InvalidName, validate_model_name
from models.registry import LAST_ISSUED, TMP_PREFIX, Registry, VersionNotFound


def _write(text):
    def build(directory):
        (directory / "file.txt").write_text(text)
    return build


def test_publish_numbers_versions_in_order(tmp_path):
    registry = Registry(tmp_path)
    assert [registry.publish("m", _write(str(i))) for i in range(3)] == ["000001", "000002", "000003"]
    assert registry.latest("m") == "000003"
    assert (registry.path("m", "2") / "file.txt").read_text() == "1"


def test_a_failed_build_leaves_no_version_and_no_debris(tmp_path):
    registry = Registry(tmp_path)

    def explode(directory):
        (directory / "half").write_text("x")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        registry.publish("m", explode)
    assert registry.versions("m") == []
    assert list((tmp_path / "m").iterdir()) == []


def test_concurrent_publishers_get_unique_versions(tmp_path):
    registry = Registry(tmp_path)
    results = []
    threads = [threading.Thread(target=lambda i=i: results.append(registry.publish("m", _write(str(i)))))
               for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [f"{n:06d}" for n in range(1, 17)]
    contents = {(registry.path("m", v) / "file.txt").read_text() for v in results}
    assert len(contents) == 16  # nobody overwrote anybody


def test_half_written_directories_are_invisible_and_cleaned_when_their_writer_is_dead(tmp_path):
    registry = Registry(tmp_path)
    registry.publish("m", _write("ok"))
    dead = tmp_path / "m" / f"{TMP_PREFIX}{os.uname().nodename}-999999999-abc"
    dead.mkdir()
    (dead / "generator.safetensors").write_bytes(b"half")
    assert registry.versions("m") == ["000001"]
    assert registry.clean_debris() == [dead]
    assert not dead.exists()


def test_read_only_roots_are_merged_and_writes_go_to_the_first(tmp_path):
    shipped = tmp_path / "shipped"
    Registry(shipped).publish("default", _write("shipped"))
    registry = Registry(tmp_path / "live", read_only_roots=(shipped,))
    assert registry.models() == ["default"]
    assert registry.publish("default", _write("trained")) == "000002"
    with pytest.raises(PermissionError):
        registry.delete("default", "000001")


@pytest.mark.parametrize("name", ["../etc", "a/b", "", ".hidden", "x" * 65, "a..b", "a\\b", "ünï"])
def test_model_names_that_could_escape_the_root_are_refused(name):
    with pytest.raises(InvalidName):
        validate_model_name(name)


def test_unknown_versions_and_bad_version_strings(tmp_path):
    registry = Registry(tmp_path)
    registry.publish("m", _write("x"))
    with pytest.raises(VersionNotFound):
        registry.path("m", "7")
    with pytest.raises(InvalidName):
        registry.path("m", "../../etc")


def test_a_deleted_versions_number_is_never_given_again(tmp_path):
    registry = Registry(tmp_path)
    for i in range(3):
        registry.publish("m", _write(str(i)))
    registry.delete("m", "000003")
    registry.delete("m", "000002")
    assert registry.publish("m", _write("new")) == "000004"
    assert registry.versions("m") == ["000001", "000004"]


def test_a_registry_written_before_numbers_were_recorded_learns_them_as_versions_are_deleted(tmp_path):
    registry = Registry(tmp_path)
    registry.publish("m", _write("a"))
    registry.publish("m", _write("b"))
    (tmp_path / "m" / LAST_ISSUED).unlink()  # as an older release left the directory
    registry.delete("m", "000002")
    assert registry.publish("m", _write("c")) == "000003"


def test_a_version_copied_in_by_hand_is_never_overwritten_nor_its_number_reused(tmp_path):
    registry = Registry(tmp_path)
    registry.publish("m", _write("a"))
    hand = tmp_path / "m" / "000002"
    hand.mkdir()
    (hand / "file.txt").write_text("by hand")
    assert registry.publish("m", _write("b")) == "000003"
    assert (registry.path("m", "2") / "file.txt").read_text() == "by hand"
