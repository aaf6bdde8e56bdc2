"""scripts/gpu_check.sh on a machine without a CUDA GPU: it says so and succeeds, checking nothing."""

import shutil
import subprocess
import sys

import pytest
import torch

from tests.support import REPO_ROOT


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the answer of a machine without CUDA")
@pytest.mark.skipif(shutil.which("nvidia-smi") is not None, reason="a GPU torch cannot use is an error, not this")
def test_the_gpu_check_says_there_is_no_gpu_and_exits_0():
    run = subprocess.run(["bash", "scripts/gpu_check.sh"], cwd=REPO_ROOT, capture_output=True, text=True,
                         env={"PATH": "/usr/bin:/bin", "PYTHON": sys.executable}, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "no CUDA GPU on this machine" in run.stdout and f"torch {torch.__version__}" in run.stdout
