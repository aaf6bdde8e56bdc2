"""Several processes publishing to one model: unique, gap-free, ordered numbers, and no version overwritten."""

import json
import subprocess
import sys
import time

import pytest

from models.registry import TMP_PREFIX, Registry
from tests.support import REPO_ROOT

PUBLISHER = """
import json, sys, time
from pathlib import Path
from models.registry import Registry
root, writer, count, go = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
registry = Registry(root)
while not go.exists():  # start together, so the writers really race
    time.sleep(0.001)
for seq in range(count):
    def build(d, seq=seq):
        (d / "writer.json").write_text(json.dumps({"writer": writer, "seq": seq}))
        (d / "payload.bin").write_bytes(bytes([seq % 256]) * 4096)
    print(registry.publish("shared", build), flush=True)
"""


def test_writers_in_separate_processes_never_share_or_overwrite_a_version(tmp_path):
    writers, count, go = 4, 15, tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", PUBLISHER, str(tmp_path / "reg"), f"w{i}", str(count), str(go)],
                              cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True) for i in range(writers)]
    time.sleep(0.5)  # let every interpreter start and wait at the line
    go.touch()
    reported = {}
    for i, proc in enumerate(procs):
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0
        reported[f"w{i}"] = out.split()

    registry = Registry(tmp_path / "reg")
    every = [v for versions in reported.values() for v in versions]
    assert sorted(every) == registry.versions("shared") == [f"{n:06d}" for n in range(1, writers * count + 1)]
    for writer, versions in reported.items():
        assert versions == sorted(versions)  # each writer's versions are ordered as it published them
        for seq, version in enumerate(versions):  # and each holds what that writer wrote, nobody else's
            assert json.loads((registry.path("shared", version) / "writer.json").read_text()) == \
                {"writer": writer, "seq": seq}
    assert not list((tmp_path / "reg" / "shared").glob(f"{TMP_PREFIX}*"))


PUBLISH_AND_DELETE = """
import sys, time
from pathlib import Path
from models.registry import Registry
root, count, go = Path(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
registry = Registry(root)
while not go.exists():
    time.sleep(0.001)
for seq in range(count):
    version = registry.publish("shared", lambda d: (d / "payload.bin").write_bytes(b"x"))
    registry.delete("shared", version)  # the newest version gone: the next writer must not reuse its number
    print(version, flush=True)
"""


def test_writers_that_delete_what_they_publish_never_reuse_a_number(tmp_path):
    writers, count, go = 4, 15, tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", PUBLISH_AND_DELETE, str(tmp_path / "reg"), str(count), str(go)],
                              cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True) for _ in range(writers)]
    time.sleep(0.5)
    go.touch()
    every = []
    for proc in procs:
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0
        every += out.split()
    assert sorted(every) == [f"{n:06d}" for n in range(1, writers * count + 1)]
    assert Registry(tmp_path / "reg").versions("shared") == []


def test_a_build_that_writes_nothing_is_refused(tmp_path):
    # an empty directory could be silently replaced by another writer's rename
    with pytest.raises(ValueError, match="at least one file"):
        Registry(tmp_path).publish("m", lambda d: None)
    assert Registry(tmp_path).versions("m") == []
