"""The API's catalog of servable versions: which exist, `latest` and `best`, which are invalid, and hot swaps.

A version is loaded once, by the inference process (`Engine.load`), which answers with its metadata and the
probes' choices; the catalog keeps those, as plain data, for the versions in use (an LRU of `cache_size`, as
the process keeps). The API never reads a version's weights itself.

A watcher thread polls the registry; `check(model)` does the same for one model at once, when a notification
says a version landed (app/notifications.py). When a newer version of a model in use lands, it is loaded and
`latest` is repointed in one assignment; requests already holding the old version finish on it. `latest` only
moves forward, unless the version it names is deleted, or it is pinned (`Registry.pin_latest`, a rollback):
then it names the pinned version, however many land, until unpinned. A version that fails to load is logged
once per reason, remembered as invalid with its reason and the fingerprint of its files, and skipped until its
files change (a directory copied in file by file is retried once complete). Every version newer than the one
served is checked once as it lands, so a broken one shows as invalid even when a newer valid one hides it. A
version whose interface differs from the one the model's first version fixed (models/interface.py) is invalid
too. An unreadable registry is a 503 (RegistryUnavailable), never remembered: serving recovers when it returns.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from cachetools import LRUCache
from starlette.concurrency import run_in_threadpool

from app.errors import NotFound
from models import evaluations, interface
from models.checkpoint import CheckpointError, read_metadata, weights_sha256
from models.names import InvalidName, format_version, parse_version, validate_model_name
from models.registry import Registry, VersionNotFound

log = logging.getLogger(__name__)

NOTICE_RETRIES_S = (0.25, 1.0, 4.0)  # a shared filesystem's directory cache may lag a notice (NFS)


class Loader(Protocol):
    def load(self, model: str, version: str) -> dict: ...

    def check(self, model: str, version: str) -> None: ...


@dataclass(frozen=True, eq=False)
class Version:
    """A servable version as the API knows it: its metadata, and how the inference process runs it."""

    name: str
    version: str
    metadata: dict[str, Any]
    choices: dict[str, Any]  # the probes' choices: precision, batchable, graph, cast weights, drift from fp32

    @property
    def weights_sha256(self) -> str:
        """What the version's images are made from: part of every ETag and cache key, so that they name the
        weights themselves and not only the number that names them."""
        return weights_sha256(self.metadata)

    @property
    def latent_dim(self) -> int:
        return int(self.metadata["latent_dim"])

    @property
    def classes(self) -> list[str] | None:
        return self.metadata.get("classes")

    @property
    def conditional(self) -> bool:
        return bool(self.classes)

    @property
    def batchable(self) -> bool:
        return self.choices["batchable"]


def fingerprint(directory: Path) -> tuple:
    """Names, sizes and modification times of a version's files: changes when any file does."""
    try:
        return tuple(sorted((p.name, st.st_size, st.st_mtime_ns) for p in directory.iterdir() for st in [p.stat()]))
    except OSError:
        return ()


class Catalog:
    def __init__(self, registry: Registry, loader: Loader, cache_size: int = 3):
        self.registry, self.loader = registry, loader
        self._cache: LRUCache[tuple[str, str], Version] = LRUCache(maxsize=max(1, cache_size))
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

    def loaded(self) -> list[Version]:
        with self._lock:
            return list(self._cache.values())

    def details(self, model: str) -> dict[str, dict[str, Any]]:
        """Every version of `model`, oldest first: its metadata and quality figures, and whether it is valid.
        Read from the registry at each call (listings, not the requests that generate)."""
        try:
            validate_model_name(model)
            versions = self.registry.versions(model)
        except InvalidName as e:
            raise NotFound(str(e)) from None
        if not versions:
            raise NotFound(f"unknown model {model!r}")
        invalid = self.invalid_versions(model)
        fixed = interface.fixed(self.registry, model)
        info: dict[str, dict[str, Any]] = {}
        for v in versions:
            try:
                metadata = read_metadata(self.registry.path(model, v))
                # quality figures up front: scored at publish time, and full evaluations queued later
                info[v] = {"valid": v not in invalid, "metrics": metadata.get("metrics"),
                           "evaluations": evaluations.read(self.registry.root, model, v), "metadata": metadata}
                self._check_interface(model, metadata, fixed)
            except (CheckpointError, VersionNotFound, OSError) as e:
                info[v] = {**info.get(v, {}), "valid": False, "error": str(e)}
            if v in invalid:
                info[v]["error"] = invalid[v]
        return info

    def peek(self, model: str, version: str = "latest") -> Version | None:
        """The version when it is already loaded, touching no file: safe on the event loop."""
        with self._lock:
            if version == "latest":
                version = self._latest.get(model, "")
            elif version.isascii() and version.isdigit() and len(version) <= 12:
                version = format_version(int(version))
            return self._cache.get((model, version))  # `best` needs the registry's record of it: None

    async def find(self, model: str, version: str = "latest") -> Version:
        """The version for a request: from memory, or loaded off the event loop."""
        return self.peek(model, version) or await run_in_threadpool(self.get, model, version)

    def get(self, model: str, version: str = "latest") -> Version:
        try:
            validate_model_name(model)
            if version == "latest":
                return self._get_latest(model)
            return self._get_version(model, self.registry.resolve(model, version))
        except (InvalidName, VersionNotFound) as e:
            raise NotFound(str(e)) from None

    def _get_latest(self, model: str) -> Version:
        pinned = self._pinned(model)
        if pinned is not None:
            return pinned
        with self._lock:
            current = self._latest.get(model)
        if current is not None:
            try:
                return self._get_version(model, current)
            except NotFound:
                pass  # deleted under us: fall through to the registry's newest
        versions = self.registry.versions(model)
        if not versions:
            raise NotFound(f"unknown model {model!r}")
        for version in reversed(versions):
            try:
                loaded = self._get_version(model, version)
            except NotFound:
                continue
            self._advance(model, version, replacing=current)
            return loaded
        raise NotFound(f"model {model!r} has no valid version: {self.invalid_versions(model)}")

    def _pinned(self, model: str) -> Version | None:
        """The version `latest` is pinned to (a rollback), now pointed at; None when not pinned, or when the pin
        names a version that cannot be served (deleted or invalid behind the API's back): the newest serves."""
        pin = self.registry.pinned_latest(model)
        if pin is None:
            return None
        try:
            found = self._get_version(model, pin)
        except NotFound as e:
            log.warning("latest of %s is pinned to %s, which cannot be served: %s", model, pin, e)
            return None
        with self._lock:
            if self._latest.get(model) != pin:  # backwards too: that is what a rollback is for
                self._latest[model] = pin
                self.swaps += 1
        return found

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

    def _get_version(self, model: str, version: str) -> Version:
        key = (model, version)
        with self._lock:
            found = self._cache.get(key)
            invalid = self._invalid.get(key)
        if found is not None:
            return found
        if invalid is not None:
            self._still_invalid(model, version, invalid)
        with self._load_lock:
            with self._lock:  # another thread may have loaded it while we waited
                found = self._cache.get(key)
            if found is None:
                found = self._load(model, version)
                with self._lock:
                    self._cache[key] = found
        return found

    def _still_invalid(self, model: str, version: str, invalid: tuple[str, tuple]) -> None:
        """Raise for a known-bad version unless its files changed since it was found bad."""
        reason, seen = invalid
        try:
            changed = fingerprint(self.registry.path(model, version)) != seen
        except VersionNotFound:
            changed = False
        if not changed:
            raise NotFound(f"version {version} of {model!r} is invalid: {reason}")

    def _mark_invalid(self, model: str, version: str, reason: str, files: tuple) -> None:
        key = (model, version)
        with self._lock:
            previous = self._invalid.get(key)
            self._invalid[key] = (reason, files)
        if previous is None or previous[0] != reason:  # once per reason, however often its files change
            log.error("version %s of %s is invalid and will not be served: %s", version, model, reason,
                      extra={"model": model, "version": version})

    def _directory(self, model: str, version: str) -> Path:
        try:
            return self.registry.path(model, version)
        except VersionNotFound as e:
            raise NotFound(str(e)) from None

    def _check_interface(self, model: str, metadata: dict[str, Any], fixed: dict[str, Any] | None = None) -> None:
        """CheckpointError for a version whose interface differs from the one the model's first version fixed
        (`fixed`, read from the registry unless given): it arrived some other way than a job the API checked
        (copied in by hand, an older worker)."""
        fixed = fixed or interface.fixed(self.registry, model)
        try:
            differing = [] if fixed is None else interface.differences(fixed, interface.of_metadata(metadata))
        except (KeyError, TypeError, ValueError) as e:
            raise CheckpointError(f"metadata.json has no usable interface: {e!r}") from None
        if differing:
            raise CheckpointError(f"its interface differs from the one version {fixed['fixed_by']} fixed for "
                                  f"{model!r}: {'; '.join(differing)}")

    def _load(self, model: str, version: str) -> Version:
        directory = self._directory(model, version)
        files = fingerprint(directory)
        try:
            self._check_interface(model, read_metadata(directory))
            answer = self.loader.load(model, version)
        except CheckpointError as e:
            self._mark_invalid(model, version, str(e), files)
            raise NotFound(f"version {version} of {model!r} is invalid: {e}") from None
        except VersionNotFound as e:
            raise NotFound(str(e)) from None
        with self._lock:
            self._invalid.pop((model, version), None)
        choices = answer["choices"]
        log.info("loaded %s version %s (%s, %s)", model, version, choices["precision"],
                 "batched" if choices["batchable"] else "one image at a time",
                 extra={"model": model, "version": version})
        return Version(model, version, answer["metadata"], choices)

    def _verify(self, model: str, version: str) -> None:
        """Find out whether a version hidden by a newer one is valid, without serving it; remember it if not."""
        key = (model, version)
        with self._lock:
            if key in self._cache:
                return
            invalid = self._invalid.get(key)
        if invalid is not None:
            try:
                self._still_invalid(model, version, invalid)
            except NotFound:
                return
        directory = self._directory(model, version)
        files = fingerprint(directory)
        try:
            self._check_interface(model, read_metadata(directory))
            self.loader.check(model, version)
        except CheckpointError as e:
            self._mark_invalid(model, version, str(e), files)
        except OSError:
            pass  # unreadable for now: the next pass looks again

    # hot swapping

    def poll(self) -> None:
        """One pass of the watcher: move `latest` of every model in use to its newest valid version, and forget
        loaded versions that were deleted, so that their pinned URLs answer 404 instead of a memory of them."""
        with self._lock:
            watched = set(self._latest) | {model for model, _ in self._cache}
        for model in sorted(watched):
            self.check(model)

    def check(self, model: str) -> None:
        """Move `latest` of `model` to its newest valid version, if the model is in use here.

        A model nobody asked for yet needs nothing: its first request resolves the newest version itself.
        """
        with self._check_lock:
            with self._lock:
                current = self._latest.get(model)
            try:
                versions = self.registry.versions(model)
                # while `latest` is pinned, new versions land but only the pin is served as latest
                if current is not None and self._pinned(model) is None:
                    self._poll_model(model, current, versions)
                self._forget_deleted(model, versions)
            except (OSError, NotFound) as e:
                log.warning("cannot read the registry for %s: %s", model, e)

    def _poll_model(self, model: str, current: str, versions: list[str]) -> None:
        gone = current not in versions
        newer = versions if gone else [v for v in versions if parse_version(v) > parse_version(current)]
        chosen = None
        for version in reversed(newer):
            if chosen is not None:  # hidden by a newer valid version: still checked, so it shows if broken
                self._verify(model, version)
                continue
            try:
                self._get_version(model, version)
            except NotFound:
                continue
            chosen = version
            if self._advance(model, version, replacing=current if gone else None):
                log.info("serving %s version %s as latest", model, version,
                         extra={"model": model, "version": version})
        if gone and chosen is None:
            with self._lock:
                if self._latest.get(model) == current:
                    self._latest.pop(model, None)

    def _forget_deleted(self, model: str, versions: list[str]) -> None:
        with self._lock:
            for key in [k for k in self._cache if k[0] == model and k[1] not in versions]:
                del self._cache[key]

    def notice(self, model: str, version: str, retry_delays_s: tuple[float, ...] = NOTICE_RETRIES_S) -> None:
        """A worker says `version` of `model` landed: check at once, and again a little later while this host
        cannot see it yet."""
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
