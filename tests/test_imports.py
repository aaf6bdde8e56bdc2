"""The import rules in pyproject.toml (import-linter) hold: the API and the worker never import each other, the
domain imports no service, and the CLI uses public entry points only."""

import shutil
import subprocess
import sys
from pathlib import Path

from tests.support import REPO_ROOT


def test_the_import_contracts_are_kept():
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    run = subprocess.run([lint, "--no-cache"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:]
    assert "0 broken" in run.stdout
