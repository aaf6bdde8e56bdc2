"""The model registry: `<root>/<model>/<version>/` directories, published atomically, read from several roots.

Writers build a version in a temporary directory beside its final place and rename it in; the rename is
atomic within one filesystem, so a reader sees a whole version or none, and it fails if the version exists,
so two writers can never take the same number. A number is never given twice, even after its version is
deleted: each model keeps the last number it issued (`LAST_ISSUED`), read and raised under an exclusive lock
on the model's `.lock` file, so a client that cached an image of version 7 never sees other weights under 7.
Read-only roots (the shipped default) are listed after the writable one; a model's versions are the union of
all roots. `resolve` is the one place where `latest`, `best` and version numbers are turned into the version
they name. Small JSON records beside the versions (`BEST`, `PINNED_LATEST`, `INTERFACE`) say what the aliases
name and what the model's first version fixed.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
import socket
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from models.names import ALIASES, format_version, parse_version, validate_model_name

TMP_PREFIX = ".tmp-"
BEST_POINTER = "BEST"
PINNED_LATEST = "PINNED_LATEST"  # `latest` held on one version (a rollback) until unpinned
LAST_ISSUED = "LAST_ISSUED"  # the highest version number ever given out for the model
LOCK = ".lock"


class VersionNotFound(LookupError):
    pass


class RegistryUnavailable(OSError):
    """A registry root exists but cannot be listed (permissions, replaced by a file, I/O error)."""


def _entries(directory: Path, root: Path) -> list[Path]:
    """What `directory` (the root or a model directory under it) holds; nothing if it does not exist."""
    try:
        return list(directory.iterdir())
    except FileNotFoundError:
        return []
    except NotADirectoryError:
        if directory != root and root.is_dir():
            return []  # a stray file where a model directory would be
        raise RegistryUnavailable(f"the registry at {root} is not a readable directory") from None
    except OSError as e:
        raise RegistryUnavailable(f"cannot read the registry at {root}: {e.strerror or e}") from None


class Registry:
    def __init__(self, root: Path, read_only_roots: tuple[Path, ...] = ()):
        self.root = Path(root)
        self.roots = (self.root, *[Path(r) for r in read_only_roots])

    # reading

    def models(self) -> list[str]:
        names: set[str] = set()
        for root in self.roots:
            entries = _entries(root, root)
            names.update(p.name for p in entries if p.is_dir() and not p.name.startswith("."))
        return sorted(names)

    def _version_dirs(self, model: str) -> dict[int, Path]:
        validate_model_name(model)
        found: dict[int, Path] = {}
        for root in reversed(self.roots):  # the writable root wins on a clash
            for p in _entries(root / model, root):
                if p.name.isdigit() and p.is_dir():
                    found[int(p.name)] = p
        return found

    def versions(self, model: str) -> list[str]:
        """Complete versions of `model`, oldest first."""
        return [format_version(n) for n in sorted(self._version_dirs(model))]

    def path(self, model: str, version: str) -> Path:
        number = parse_version(version)
        try:
            return self._version_dirs(model)[number]
        except KeyError:
            raise VersionNotFound(f"model {model!r} has no version {version!r}") from None

    def latest(self, model: str) -> str | None:
        versions = self._version_dirs(model)
        return format_version(max(versions)) if versions else None

    def best(self, model: str) -> str | None:
        record = self.read_record(model, BEST_POINTER)
        return record.get("version") if record else None

    def read_record(self, model: str, name: str) -> dict | None:
        """A small JSON record kept beside the model's versions (BEST, INTERFACE, ...), from the first root that
        has one; None when none does or it is unreadable."""
        for root in self.roots:
            try:
                record = json.loads((root / validate_model_name(model) / name).read_text())
            except (FileNotFoundError, NotADirectoryError, ValueError):
                continue
            if isinstance(record, dict):
                return record
        return None

    def pinned_latest(self, model: str) -> str | None:
        record = self.read_record(model, PINNED_LATEST)
        return record.get("version") if record else None

    def resolve(self, model: str, version: str) -> str:
        """The version that `latest` (pinned, else the newest), `best` or a version number names;
        VersionNotFound when there is none, InvalidName for a name that can never be one."""
        if version in ALIASES:
            found = (self.pinned_latest(model) or self.latest(model)) if version == "latest" else self.best(model)
            if found is None:
                raise VersionNotFound(f"model {model!r} has no {version!r} version"
                                      + ("" if self.versions(model) else ": unknown model"))
            return found
        found = format_version(parse_version(version))
        self.path(model, found)
        return found

    # writing

    def publish(self, model: str, build: Callable[[Path], None]) -> str:
        """Build a version with `build(tmp_dir)` and rename it into place under the next free number."""
        model_dir = self.root / validate_model_name(model)
        model_dir.mkdir(parents=True, exist_ok=True)
        tmp = model_dir / _tmp_name()
        tmp.mkdir()
        try:
            build(tmp)
            if not any(tmp.iterdir()):
                # rename() replaces an empty directory silently: an empty version could be overwritten
                raise ValueError(f"a version of {model!r} must hold at least one file")
            _fsync_tree(tmp)
            with self._numbering(model_dir):
                number = self._next_number(model)
                while True:
                    # recorded before the rename: a crash in between skips a number, it never reuses one
                    _write_atomically(model_dir / LAST_ISSUED, str(number))
                    try:
                        os.rename(tmp, model_dir / format_version(number))  # fails on an existing version
                        break
                    except OSError as e:
                        if e.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                            raise
                        number += 1  # a version put there by hand, or by a writer that took no lock
            _fsync_dir(model_dir)
            return format_version(number)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def last_issued(self, model: str) -> int:
        """The highest version number ever given out for `model`, deleted versions included."""
        try:
            return int((self.root / validate_model_name(model) / LAST_ISSUED).read_text())
        except (FileNotFoundError, NotADirectoryError, ValueError):
            return 0

    def _next_number(self, model: str) -> int:
        return max(self.last_issued(model), *self._version_dirs(model), 0) + 1

    @contextmanager
    def _numbering(self, model_dir: Path) -> Iterator[None]:
        """Hold the model's lock: one writer at a time reads and raises its last issued number."""
        with open(model_dir / LOCK, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def set_best(self, model: str, version: str, set_by: str | None = None) -> None:
        """`set_by`: who chose it by hand (an API key's id); None when a job promoted it on its scores."""
        self.write_record(model, BEST_POINTER, {"version": version, **({"set_by": set_by} if set_by else {})})

    def pin_latest(self, model: str, version: str, set_by: str | None) -> None:
        self.write_record(model, PINNED_LATEST, {"version": version, "set_by": set_by})

    def unpin_latest(self, model: str) -> None:
        self.delete_record(model, PINNED_LATEST)

    def delete_record(self, model: str, name: str) -> None:
        try:
            (self.root / validate_model_name(model) / name).unlink()
        except FileNotFoundError:
            pass

    def write_record(self, model: str, name: str, record: dict) -> None:
        model_dir = self.root / validate_model_name(model)
        model_dir.mkdir(parents=True, exist_ok=True)
        _write_atomically(model_dir / name, json.dumps(record, indent=2, sort_keys=True))

    def delete(self, model: str, version: str) -> None:
        path = self.path(model, version)
        if not path.is_relative_to(self.root):
            raise PermissionError(f"version {version!r} of {model!r} is shipped with the service and read-only")
        model_dir = path.parent
        with self._numbering(model_dir):
            # a registry written before LAST_ISSUED existed learns of the number here, before it disappears
            number = parse_version(path.name)
            if self.last_issued(model) < number:
                _write_atomically(model_dir / LAST_ISSUED, str(number))
            # rename first so readers never see a half-deleted version
            doomed = path.with_name(_tmp_name())
            os.rename(path, doomed)
        shutil.rmtree(doomed, ignore_errors=True)

    def clean_debris(self, older_than_s: float = 3600.0) -> list[Path]:
        """Remove temporary directories left by writers that died mid-publish.

        Debris of a dead process on this host goes at once; anything else only once it is old, since a
        writer on another host sharing the registry may still be busy with it.
        """
        removed = []
        now = time.time()
        try:
            model_dirs = [p for p in self.root.iterdir() if p.is_dir()]
        except FileNotFoundError:
            return removed
        for model_dir in model_dirs:
            for p in model_dir.glob(f"{TMP_PREFIX}*"):
                try:
                    if _writer_is_dead(p.name) or now - p.stat().st_mtime >= older_than_s:
                        shutil.rmtree(p) if p.is_dir() else p.unlink()
                        removed.append(p)
                except FileNotFoundError:
                    continue
        return removed


def open_registry(root: Path, shipped: Path | None = None) -> Registry:
    """The writable registry at `root`, with the shipped default's read-only registry behind it when present."""
    return Registry(root, read_only_roots=(shipped,) if shipped is not None and shipped.is_dir() else ())


def _tmp_name() -> str:
    return f"{TMP_PREFIX}{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex}"


def _writer_is_dead(tmp_name: str) -> bool:
    try:
        host, pid, _ = tmp_name[len(TMP_PREFIX) :].rsplit("-", 2)
        if host != socket.gethostname():
            return False
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except (ValueError, PermissionError):
        return False
    return False


def _write_atomically(path: Path, text: str) -> None:
    """Readers see the old text or the new, never a torn write; on disk before it replaces the old."""
    tmp = path.with_name(_tmp_name())
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(directory: Path) -> None:
    for p in directory.iterdir():
        if p.is_file():
            with open(p, "rb") as f:
                os.fsync(f.fileno())
    _fsync_dir(directory)
