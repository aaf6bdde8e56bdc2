"""The generator pool: loads versions on first use, keeps an LRU of them, and hot-swaps `latest`.

A watcher thread polls the registry; `check(model)` does the same for one model at once, when a
notification says a version landed (app/notifications.py). When a newer version of a model in use lands, it
is loaded in the background and `latest` is repointed in one assignment; requests already holding the old
generator finish on it. `latest` only moves forward, unless the version it names is deleted. A version that fails to load is
logged once per reason, remembered as invalid with its reason and the fingerprint of its files, and skipped
until its files change (a directory copied in file by file is retried once complete). Every version newer
than the one served is loaded once as it lands, so a broken one shows as invalid even when a newer valid one
hides it.
An unreadable registry is a 503 (RegistryUnavailable), never remembered: serving recovers when it returns.
A pool computes on one device in one dtype: its cache is that device's (run one process per GPU).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from app.inference import DTYPES, Prepared
from models.checkpoint import CheckpointError, load_generator
from models.names import InvalidName, format_version, parse_version, validate_model_name
from models.registry import Registry, RegistryUnavailable, VersionNotFound

log = logging.getLogger(__name__)


class ModelUnavailable(LookupError):
    """No servable version: unknown model or version, or every candidate invalid."""


def fingerprint(directory: Path) -> tuple:
    """Names, sizes and modification times of a version's files: changes when any file does."""
    try:
        return tuple(sorted((p.name, st.st_size, st.st_mtime_ns) for p in directory.iterdir() for st in [p.stat()]))
    except OSError:
        return ()


@dataclass(frozen=True)
class LoadedModel:
    name: str
    version: str
    generator: nn.Module | None  # None once prepared, where the pool keeps no generators (keep_generators)
    metadata: dict[str, Any]
    device: torch.device
    dtype: torch.dtype = torch.float32  # autocast dtype of forward passes
    prepared: Prepared | None = None  # how the serving engine runs it; None: as loaded, under `dtype`

    @property
    def latent_dim(self) -> int:
        return int(self.metadata["latent_dim"])

    @property
    def classes(self) -> list[str] | None:
        return self.metadata.get("classes")

    @property
    def conditional(self) -> bool:
        return bool(self.classes)


class GeneratorPool:
    def __init__(self, registry: Registry, device: torch.device, cache_size: int = 3,
                 dtype: torch.dtype = torch.float32, prepare: Callable[[LoadedModel], Prepared] | None = None,
                 keep_generators: bool = True):
        self.registry, self.device, self.cache_size, self.dtype = registry, device, max(1, cache_size), dtype
        self.prepare = prepare  # runs once per load, on the loading thread
        # False: a version keeps only what `prepare` made of it (its forward holds what it runs: a bf16 copy, a
        # graph, or nothing where another process runs it), and the loaded fp32 generator is freed once prepared
        if not keep_generators and prepare is None:
            raise ValueError("keep_generators=False needs a prepare hook: the generator is what serves otherwise")
        self.keep_generators = keep_generators
        self._cache: OrderedDict[tuple[str, str], LoadedModel] = OrderedDict()
        self._latest: dict[str, str] = {}  # models in use -> newest version that loaded
        self._invalid: dict[tuple[str, str], tuple[str, tuple]] = {}  # (model, version) -> reason, fingerprint
        self._lock = threading.Lock()  # guards the dicts; never held while loading
        self._load_lock = threading.Lock()  # one load at a time: loads are rare and memory-heavy
        # the watcher and the notification listener check one at a time, so a pass that read the registry
        # before a version landed can never move `latest` back behind one that read it after
        self._check_lock = threading.Lock()
        self.swaps = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # lookups

    def invalid_versions(self, model: str) -> dict[str, str]:
        with self._lock:
            return {v: r for (m, v), (r, _) in self._invalid.items() if m == model}

    def loaded(self) -> list[tuple[str, str]]:
        with self._lock:
            return list(self._cache)

    def loaded_models(self) -> list[LoadedModel]:
        with self._lock:
            return list(self._cache.values())

    def peek(self, model: str, version: str = "latest") -> LoadedModel | None:
        """The loaded model when it is already in memory, touching no file: safe on the event loop."""
        try:
            if version == "best":
                return None  # needs the registry's record of the best version
            with self._lock:
                if version == "latest":
                    version = self._latest.get(model, "")
                    key = (model, version)
                else:
                    key = (model, format_version(parse_version(version)))
                if key in self._cache:
                    self._cache.move_to_end(key)
                    return self._cache[key]
        except (InvalidName, ValueError):
            return None  # get() reports it properly
        return None

    def get(self, model: str, version: str = "latest") -> LoadedModel:
        try:
            validate_model_name(model)
            if version == "latest":
                return self._get_latest(model)
            if version == "best":
                best = self.registry.best(model)
                if best is None:
                    raise ModelUnavailable(f"model {model!r} has no 'best' version yet")
                version = best
            return self._get_version(model, format_version(parse_version(version)))
        except (InvalidName, VersionNotFound) as e:
            raise ModelUnavailable(str(e)) from None

    def _get_latest(self, model: str) -> LoadedModel:
        with self._lock:
            current = self._latest.get(model)
        if current is not None:
            try:
                return self._get_version(model, current)
            except ModelUnavailable:
                pass  # deleted under us: fall through to the registry's newest
        versions = self.registry.versions(model)
        if not versions:
            raise ModelUnavailable(f"unknown model {model!r}")
        for version in reversed(versions):
            try:
                loaded = self._get_version(model, version)
            except ModelUnavailable:
                continue
            self._advance(model, version, replacing=current)
            return loaded
        raise ModelUnavailable(f"model {model!r} has no valid version: {self.invalid_versions(model)}")

    def _advance(self, model: str, version: str, replacing: str | None = None) -> bool:
        """Point `latest` at `version` if it is newer, or if it replaces `replacing` (gone or invalid).

        Requests and the watcher race to set it; without this rule a slow request that listed the registry
        before a new version landed could point `latest` back at an older one.
        """
        with self._lock:
            current = self._latest.get(model)
            if current is None or current == replacing or parse_version(version) > parse_version(current):
                if current != version:
                    self._latest[model] = version
                    self.swaps += 1
                return True
            return False

    def _get_version(self, model: str, version: str) -> LoadedModel:
        key = (model, version)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
            invalid = self._invalid.get(key)
        if invalid is not None:
            self._still_invalid(model, version, invalid)
        with self._load_lock:
            with self._lock:  # another thread may have loaded it while we waited
                if key in self._cache:
                    return self._cache[key]
            loaded = self._load(model, version)
        with self._lock:
            self._cache[key] = loaded
            self._cache.move_to_end(key)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return loaded

    def _still_invalid(self, model: str, version: str, invalid: tuple[str, tuple]) -> None:
        """Raise for a known-bad version unless its files changed since it was found bad."""
        reason, seen = invalid
        try:
            changed = fingerprint(self.registry.path(model, version)) != seen
        except VersionNotFound:
            changed = False
        if not changed:
            raise ModelUnavailable(f"version {version} of {model!r} is invalid: {reason}")

    def _mark_invalid(self, model: str, version: str, reason: str, files: tuple) -> None:
        key = (model, version)
        with self._lock:
            previous = self._invalid.get(key)
            self._invalid[key] = (reason, files)
        if previous is None or previous[0] != reason:  # once per reason, however often its files change
            log.error("version %s of %s is invalid and will not be served: %s", version, model, reason,
                      extra={"model": model, "version": version})

    def _mark_valid(self, model: str, version: str) -> None:
        with self._lock:
            self._invalid.pop((model, version), None)

    def _directory(self, model: str, version: str) -> Path:
        try:
            return self.registry.path(model, version)
        except VersionNotFound as e:
            raise ModelUnavailable(str(e)) from None

    def _load(self, model: str, version: str) -> LoadedModel:
        directory = self._directory(model, version)
        files = fingerprint(directory)
        try:
            generator, metadata = load_generator(directory, self.device)
        except CheckpointError as e:
            self._mark_invalid(model, version, str(e), files)
            raise ModelUnavailable(f"version {version} of {model!r} is invalid: {e}") from None
        except OSError as e:  # the disk, not the checkpoint: not remembered, so it recovers
            raise RegistryUnavailable(f"cannot read version {version} of {model!r}: {e}") from None
        self._mark_valid(model, version)
        loaded = LoadedModel(model, version, generator, metadata, self.device, self.dtype)
        if self.prepare is not None:
            prepared = self.prepare(loaded)
            loaded = replace(loaded, prepared=prepared, dtype=DTYPES[prepared.precision])
        if not self.keep_generators:
            loaded = replace(loaded, generator=None)
        log.info("loaded %s version %s%s", model, version,
                 "" if loaded.prepared is None else f" ({loaded.prepared.precision}, "
                 f"{'batched' if loaded.prepared.batchable else 'one image at a time'})",
                 extra={"model": model, "version": version})
        return loaded

    def _verify(self, model: str, version: str) -> None:
        """Load a version once on the CPU, without serving it, to find out whether it is valid; remember it if not."""
        key = (model, version)
        with self._lock:
            if key in self._cache:
                return
            invalid = self._invalid.get(key)
        if invalid is not None:
            try:
                self._still_invalid(model, version, invalid)
            except ModelUnavailable:
                return
        directory = self._directory(model, version)
        files = fingerprint(directory)
        try:
            load_generator(directory, "cpu")  # the whole check: a truncated file can carry a matching hash
        except CheckpointError as e:
            self._mark_invalid(model, version, str(e), files)
        except OSError:
            pass  # unreadable for now: the next pass looks again

    # hot swapping

    def poll(self) -> None:
        """One pass of the watcher: move `latest` of every model in use to its newest valid version."""
        with self._lock:
            watched = list(self._latest)
        for model in watched:
            self.check(model)

    def check(self, model: str) -> None:
        """Move `latest` of `model` to its newest valid version, if the model is in use here.

        A model nobody asked for yet needs nothing: its first request resolves the newest version itself.
        """
        with self._check_lock:
            with self._lock:
                current = self._latest.get(model)
            if current is None:
                return
            try:
                self._poll_model(model, current)
            except (OSError, ModelUnavailable) as e:
                log.warning("cannot read the registry for %s: %s", model, e)

    def _poll_model(self, model: str, current: str) -> None:
        versions = self.registry.versions(model)
        gone = current not in versions
        newer = versions if gone else [v for v in versions if parse_version(v) > parse_version(current)]
        chosen = None
        for version in reversed(newer):
            if chosen is not None:  # hidden by a newer valid version: still checked, so it shows if broken
                self._verify(model, version)
                continue
            try:
                self._get_version(model, version)
            except ModelUnavailable:
                continue
            chosen = version
            if self._advance(model, version, replacing=current if gone else None):
                log.info("serving %s version %s as latest", model, version,
                         extra={"model": model, "version": version})
        if gone and chosen is None:
            with self._lock:
                if self._latest.get(model) == current:
                    self._latest.pop(model, None)
                for key in [k for k in self._cache if k[0] == model and k[1] not in versions]:
                    del self._cache[key]

    def notice(self, model: str, version: str, retry_delays_s: tuple[float, ...] = (0.25, 1.0, 4.0)) -> None:
        """A worker says `version` of `model` landed: check at once, and again a little later while this host
        cannot see it yet (the directory cache of a shared filesystem such as NFS may lag the notice)."""
        self.check(model)
        if self._caught_up(model, version) or not retry_delays_s:
            return
        retry = threading.Timer(retry_delays_s[0], self.notice, args=(model, version, retry_delays_s[1:]))
        retry.daemon = True
        retry.start()

    def _caught_up(self, model: str, version: str) -> bool:
        with self._lock:
            current = self._latest.get(model)
            return (current is None  # not in use here: its first request reads the registry anyway
                    or parse_version(current) >= parse_version(version) or (model, version) in self._invalid)

    def start(self, interval_s: float) -> None:
        def watch() -> None:
            while not self._stop.wait(interval_s):
                try:
                    self.poll()
                except Exception:  # the watcher must outlive any one bad pass
                    log.exception("registry watcher pass failed")

        self._thread = threading.Thread(target=watch, name="registry-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
