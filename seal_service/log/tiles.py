"""The tree's tiles (C2SP tlog-tiles) kept in the database: appended to by the sequencer, read for proofs and
served or exported as immutable files.

Example::

    >>> with instance.sessions() as session:                                       # doctest: +SKIP
    ...     data = tile_bytes(session, TileRef(level=0, n=0, width=12), size=12)

A tile row only ever grows (hashes appended until 256), so every width of it that exists never changes: that is
what makes ``tile/<L>/<N>.p/<W>`` immutable.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from seal_service.errors import NotFound
from seal_service.storage.log_models import LogEntryRecord, LogTile
from verifier.tlog import (
    HASH_SIZE,
    TILE_HEIGHT,
    TILE_WIDTH,
    TileHashReader,
    TileRef,
    encode_entry_bundle,
    entries_path,
    root_of,
    tile_path,
    tile_width,
)

FULL_TILE_BYTES = TILE_WIDTH * HASH_SIZE


def append_hashes(session: Session, old_size: int, leaf_hashes: list[bytes]) -> dict[tuple[int, int], bytes]:
    """Append leaf hashes to the tiles of a tree of ``old_size``; returns every tile written (level, n) -> bytes."""
    written: dict[tuple[int, int], bytes] = {}
    level, start, new = 0, old_size, leaf_hashes
    while new:
        first_n = start // TILE_WIDTH
        offset = start % TILE_WIDTH
        row = session.get(LogTile, (level, first_n)) if offset else None
        if offset and (row is None or len(row.hashes) != offset * HASH_SIZE):
            raise RuntimeError(f"tile {level}/{first_n} does not hold {offset} hashes; the log state is damaged")
        buffer = (row.hashes if row is not None else b"") + b"".join(new)
        completed: list[bytes] = []
        for i in range(0, len(buffer), FULL_TILE_BYTES):
            n = first_n + i // FULL_TILE_BYTES
            data = buffer[i : i + FULL_TILE_BYTES]
            written[(level, n)] = data
            if i == 0 and row is not None:
                row.hashes = data
            else:
                session.add(LogTile(level=level, n=n, hashes=data))
            if len(data) == FULL_TILE_BYTES:
                completed.append(root_of([data[j : j + HASH_SIZE] for j in range(0, FULL_TILE_BYTES, HASH_SIZE)]))
        # A full tile's root is the next level's hash at index n (tlog-tiles); partial tiles never go up.
        level, start, new = level + 1, first_n, completed
    return written


def _stored_tile(session: Session, level: int, n: int) -> bytes:
    hashes = session.scalar(select(LogTile.hashes).where(LogTile.level == level, LogTile.n == n))
    return hashes or b""


def tile_bytes(session: Session, ref: TileRef, *, size: int) -> bytes:
    """The bytes of a hash tile that exists in the tree of ``size`` (NotFound otherwise)."""
    if ref.level < 0 or ref.width > tile_width(ref.level, ref.n, size):
        raise NotFound(f"no tile {tile_path(ref.level, ref.n, ref.width)} in the log of size {size}")
    data = _stored_tile(session, ref.level, ref.n)
    if len(data) < ref.width * HASH_SIZE:
        raise NotFound(f"tile {tile_path(ref.level, ref.n, ref.width)} is not stored")
    return data[: ref.width * HASH_SIZE]


def entry_bundle(session: Session, ref: TileRef, *, size: int) -> bytes:
    """The entry bundle ``tile/entries/<N>[.p/<W>]`` (NotFound when it is not in the tree of ``size``)."""
    if ref.width > tile_width(0, ref.n, size):
        raise NotFound(f"no entry bundle {entries_path(ref.n, ref.width)} in the log of size {size}")
    first = ref.n * TILE_WIDTH
    rows = session.scalars(
        select(LogEntryRecord.entry)
        .where(LogEntryRecord.idx >= first, LogEntryRecord.idx < first + ref.width)
        .order_by(LogEntryRecord.idx)
    ).all()
    return encode_entry_bundle(rows)


def _tiles_on_paths(size: int, indexes: Iterable[int]) -> set[tuple[int, int]]:
    """Tiles holding the ancestors of ``indexes`` and of the last leaf, at every level: those a proof reads."""
    wanted: set[tuple[int, int]] = set()
    for index in {*indexes, size - 1}:
        level = 0
        while (size >> (TILE_HEIGHT * level)) > 0:
            wanted.add((level, (index >> (TILE_HEIGHT * level)) // TILE_WIDTH))
            level += 1
    return wanted


class _TileCache:
    """Tiles already read, per database, in this process. Safe because a tile only grows: the first ``w`` hashes
    of a tile never change, so a cached tile answers any width up to its own (the log's immutability, used)."""

    def __init__(self, capacity: int = 4096) -> None:
        self._tiles: OrderedDict[tuple[str, int, int], bytes] = OrderedDict()
        self._capacity = capacity
        self._lock = threading.Lock()

    def get(self, key: tuple[str, int, int], width: int) -> bytes | None:
        with self._lock:
            data = self._tiles.get(key)
            if data is None or len(data) < width * HASH_SIZE:
                return None
            self._tiles.move_to_end(key)
            return data[: width * HASH_SIZE]

    def put(self, key: tuple[str, int, int], data: bytes) -> None:
        with self._lock:
            have = self._tiles.get(key)
            if have is None or len(have) < len(data):
                self._tiles[key] = data
            self._tiles.move_to_end(key)
            while len(self._tiles) > self._capacity:
                self._tiles.popitem(last=False)


TILE_CACHE = _TileCache()


def hash_reader(
    session: Session,
    size: int,
    overlay: dict[tuple[int, int], bytes] | None = None,
    *,
    prefetch: Iterable[int] | None = None,
) -> TileHashReader:
    """A :class:`TileHashReader` over the stored tiles (``overlay``: tiles written in this transaction).

    ``prefetch``: leaf indexes a proof will be about; the tiles on their paths (and the right edge) that the
    process has not cached are read in one query. Without it (the sequencer), tiles are read one by one and the
    cache is not used, so the sequencer always sees the database.
    """
    known: dict[tuple[int, int], bytes] = dict(overlay or {})
    database = str(session.get_bind().url)
    use_cache = prefetch is not None
    if size > 0 and prefetch is not None:
        missing = []
        for level, n in sorted(_tiles_on_paths(size, prefetch) - set(known)):
            cached = TILE_CACHE.get((database, level, n), tile_width(level, n, size))
            if cached is None:
                missing.append((level, n))
            else:
                known[(level, n)] = cached
        if missing:
            rows = session.execute(
                select(LogTile.level, LogTile.n, LogTile.hashes).where(
                    or_(*(and_(LogTile.level == level, LogTile.n == n) for level, n in missing))
                )
            ).all()
            for row in rows:
                known[(row.level, row.n)] = row.hashes
                TILE_CACHE.put((database, row.level, row.n), row.hashes)

    def fetch(level: int, n: int, width: int) -> bytes:
        data = known.get((level, n))
        if data is None and use_cache:
            data = TILE_CACHE.get((database, level, n), width)
        if data is None:
            data = _stored_tile(session, level, n)
            if use_cache:
                TILE_CACHE.put((database, level, n), data)
        return data[: width * HASH_SIZE]

    return TileHashReader(size, fetch)


def export_tiles(session: Session, directory: Path, *, size: int) -> int:
    """Write every tile and entry bundle of the tree of ``size`` under ``directory``; returns the files written.

    Full tiles are written once; the partial tiles of this size are written beside them, as tlog-tiles names them.
    """
    count = 0
    level = 0
    while (size >> (8 * level)) > 0:
        for row in session.scalars(select(LogTile).where(LogTile.level == level).order_by(LogTile.n)):
            width = tile_width(level, row.n, size)
            if width == 0:
                continue
            _write(directory / tile_path(level, row.n, width), row.hashes[: width * HASH_SIZE])
            count += 1
            if level == 0:
                ref = TileRef(level=-1, n=row.n, width=width)
                _write(directory / entries_path(row.n, width), entry_bundle(session, ref, size=size))
                count += 1
        level += 1
    return count


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and path.read_bytes() == data:
        return
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
