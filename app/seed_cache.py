"""A bounded in-memory cache of encoded seed-URL PNGs: a seed image of one version never changes."""

from __future__ import annotations

import threading
from collections import OrderedDict

SeedKey = tuple[str, str, int, int | None, float]  # (model, version, seed, class index, truncation)


class SeedImageCache:
    """LRU over encoded PNG bytes, bounded by their total size."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._entries: OrderedDict[SeedKey, bytes] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: SeedKey) -> bytes | None:
        with self._lock:
            png = self._entries.get(key)
            if png is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return png

    def put(self, key: SeedKey, png: bytes) -> None:
        if len(png) > self.max_bytes:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= len(old)
            self._entries[key] = png
            self._bytes += len(png)
            while self._bytes > self.max_bytes:
                _, evicted = self._entries.popitem(last=False)
                self._bytes -= len(evicted)
