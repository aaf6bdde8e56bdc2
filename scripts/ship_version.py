"""Copy one registry version into the shipped read-only registry, without its resume state.

Usage: python scripts/ship_version.py SOURCE_VERSION_DIR [--into models/shipped] [--name MODEL] [--replace]
The weights and sample grid are copied byte for byte (their sha256 stay valid); training.safetensors
(discriminator and optimizer state, only needed to resume) is left out to keep the repository small.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models import checkpoint  # noqa: E402
from models.registry import Registry  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="a version directory, e.g. registry/fashion-cdcgan/000004")
    parser.add_argument("--into", type=Path, default=Path("models/shipped"), help="shipped registry root")
    parser.add_argument("--replace", action="store_true", help="remove the model's earlier shipped versions")
    parser.add_argument("--name", help="ship under this model name (default: the one it was trained under)")
    args = parser.parse_args()

    generator, metadata = checkpoint.load_generator(args.source)  # verifies hashes and shapes first
    model = metadata["model"] = args.name or metadata["model"]
    if args.replace:
        shutil.rmtree(args.into / model, ignore_errors=True)
    metadata["files"].pop(checkpoint.TRAINING, None)
    metadata["shipped_from"] = {"model": args.source.parent.name, "version": args.source.name, "step": metadata["step"]}

    def build(directory: Path) -> None:
        for name in metadata["files"]:
            shutil.copyfile(args.source / name, directory / name)
        (directory / checkpoint.METADATA).write_text(json.dumps(metadata, indent=2, sort_keys=True))

    version = Registry(args.into).publish(model, build)
    checkpoint.load_generator(args.into / model / version)
    print(f"shipped {model} step {metadata['step']} as {args.into / model / version}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
