"""`gan` commands that work on the registry on disk: train --local, generate --local, models, export.

They run in-process through click's runner (they talk to no service); one runs as a real process to show the
progress bar as a terminal user gets it."""

from __future__ import annotations

import re
import shutil
import tomllib

import numpy as np
import onnxruntime
import pytest
import torch
from PIL import Image

from click.testing import CliRunner

from cli.main import gan as gan_group
from models.checkpoint import load_generator
from models.latents import seed_latents
from models.registry import Registry
from tests.cli import support
from tests.support import REPO_ROOT


class Result:
    def __init__(self, returncode: int, stdout: str, stderr: str):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def gan(*args: str, registry) -> Result:
    """`gan ARGS` in this process, with the registry option given as its environment variable would."""
    runner = CliRunner()
    result = runner.invoke(gan_group, list(args), env={"GAN_REGISTRY_DIR": str(registry),
                                                       "GAN_SHIPPED_REGISTRY_DIR": str(registry / ".none")},
                           prog_name="gan")
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Result(result.exit_code, result.stdout, result.stderr)


@pytest.fixture
def registry(tmp_path, tiny_registry):
    copy = tmp_path / "registry"
    shutil.copytree(tiny_registry, copy)
    return copy


def test_the_console_script_gan_is_the_click_group():
    scripts = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    module, attribute = scripts["gan"].split(":")
    assert module == "cli.main" and attribute == "main"


@pytest.mark.parametrize("command", [[], ["serve"], ["worker"], ["train"], ["generate"], ["models"], ["export"],
                                     ["dataset"]])
def test_every_command_has_help_with_examples(command, tmp_path):
    result = gan(*command, "--help", registry=tmp_path)
    assert result.returncode == 0 and "Examples:" in result.stdout and "gan " in result.stdout


def test_every_command_is_in_the_group():
    assert set(gan_group.commands) == {"serve", "worker", "train", "generate", "models", "export", "dataset"}


def test_train_local_shows_a_progress_bar_with_losses_and_publishes_versions(tmp_path):
    registry = tmp_path / "registry"
    result = support.gan("train", "--local", "--model", "local-gan", "--steps", "6", "--batch-size", "8", "--base-width",
                 "8", "--image-size", "32", "--checkpoint-every", "3", "--limit", "64", registry=registry)
    assert result.returncode == 0, result.stderr
    assert re.search(r"6/6 \[.*loss_d=\d+\.\d+, loss_g=\d+\.\d+", result.stderr)  # step, ETA and losses
    assert "local-gan finished at step 6: versions 000001, 000002" in result.stdout
    assert Registry(registry).versions("local-gan") == ["000001", "000002"]


def test_train_refuses_a_bad_job_naming_what_to_fix(tmp_path):
    result = gan("train", "--local", "--model", "x", "--image-size", "7", registry=tmp_path)
    assert result.returncode == 2 and "image_size" in result.stderr and "between 8 and 1024" in result.stderr


def test_generate_local_writes_one_png_per_seed(registry, tmp_path):
    result = gan("generate", "--model", "bars-cond", "--seeds", "1,2,3", "--label", "bar-4", "--local",
                 "--out", str(tmp_path / "out"), registry=registry)
    assert result.returncode == 0, result.stderr
    files = sorted((tmp_path / "out").glob("*.png"))
    assert [f.name for f in files] == [f"bars-cond-000002-seed{s}.png" for s in (1, 2, 3)]
    assert Image.open(files[0]).size == (32, 32)


def test_generate_local_from_a_latents_file_as_one_grid(registry, tmp_path):
    (tmp_path / "z.json").write_text(str(seed_latents([1, 2], 100).tolist()))
    result = gan("generate", "--model", "bars", "--latents", str(tmp_path / "z.json"), "--grid", "--local",
                 "--out", str(tmp_path), registry=registry)
    assert result.returncode == 0, result.stderr
    assert Image.open(tmp_path / "bars-000002-grid.png").size[0] > 2 * 24


def test_generate_says_what_a_conditional_model_needs(registry, tmp_path):
    result = gan("generate", "--model", "bars-cond", "--seeds", "1", "--local", registry=registry)
    assert result.returncode == 1 and "conditional" in result.stderr and "bar-0" in result.stderr


def test_models_list_show_and_delete(registry):
    listed = gan("models", "list", registry=registry)
    assert re.search(r"bars-cond\s+000002\s+2\s+cdcgan\s+32x32x1\s+10", listed.stdout)
    shown = gan("models", "show", "bars", registry=registry)
    assert '"latest": "000002"' in shown.stdout and '"architecture": "dcgan"' in shown.stdout
    deleted = gan("models", "delete", "bars", "2", "--yes", registry=registry)
    assert deleted.returncode == 0 and "deleted bars version 000002" in deleted.stdout
    assert Registry(registry).versions("bars") == ["000001"]
    missing = gan("models", "delete", "bars", "9", "--yes", registry=registry)
    assert missing.returncode == 1 and "no version" in missing.stderr


def test_export_writes_onnx_that_onnxruntime_runs_like_pytorch(registry, tmp_path):
    out = tmp_path / "g.onnx"
    result = gan("export", "bars-cond", "--out", str(out), registry=registry)
    assert result.returncode == 0, result.stderr
    assert re.search(r"max abs difference \d\.\d+e-\d+", result.stdout)
    # independently of the command's own check: other latents, another batch size
    generator, _ = load_generator(Registry(registry).path("bars-cond", "000002"))
    z, labels = seed_latents([7, 8, 9], 100), torch.tensor([1, 5, 9])
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"z": z.numpy(), "labels": labels.numpy()})
    with torch.inference_mode():
        expected = generator.eval()(z, labels).numpy()
    assert got.shape == (3, 1, 32, 32) and np.abs(got - expected).max() < 1e-4
    props = {p.key: p.value for p in __import__("onnx").load(str(out)).metadata_props}
    assert props["model"] == "bars-cond" and props["version"] == "000002" and props["latent_dim"] == "100"
