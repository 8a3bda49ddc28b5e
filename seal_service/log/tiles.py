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
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from sqlalchemy import Table, bindparam, select, tuple_
from sqlalchemy.orm import Session

from seal_service.errors import NotFound
from seal_service.storage.log_models import LogEntryRecord, LogTile
from verifier.tlog import (
    EMPTY_ROOT,
    HASH_SIZE,
    TILE_HEIGHT,
    TILE_WIDTH,
    TileHashReader,
    TileRef,
    encode_entry_bundle,
    entries_path,
    node_hash,
    root_of,
    tile_path,
    tile_width,
)

FULL_TILE_BYTES = TILE_WIDTH * HASH_SIZE


@dataclass(frozen=True)
class RightEdge:
    """What appending to a tree of ``size`` needs, and nothing more: the partial (last) tile of each level and the
    compact range (the perfect subtrees of the tree's binary decomposition, left to right).

    The sequencer keeps one in memory between steps: appending ``k`` leaves then costs about ``2k`` hashes and
    writes only the tiles that change, instead of reading the right edge's tiles and re-hashing them for the root
    at every step. Immutable: :meth:`extend` returns a new edge, so a step that rolls back leaves the kept one as
    it was.
    """

    size: int
    tails: tuple[bytes, ...]
    """Per level, the hashes of its partial tile (``(size >> 8*level) % 256`` hashes; empty when the level's last
    tile is full or the level does not exist yet)."""
    range_: tuple[tuple[int, bytes], ...]
    """(height, hash) of each perfect subtree of the binary decomposition of ``size``, largest (leftmost) first."""

    @classmethod
    def empty(cls) -> RightEdge:
        """The edge of the empty tree."""
        return cls(size=0, tails=(), range_=())

    @property
    def root(self) -> bytes:
        """MTH of the tree: the compact range folded from the right (RFC 9162's split at the largest power of 2)."""
        if not self.range_:
            return EMPTY_ROOT
        root = self.range_[-1][1]
        for _, left in reversed(self.range_[:-1]):
            root = node_hash(left, root)
        return root

    def extend(self, leaf_hashes: list[bytes]) -> tuple[RightEdge, dict[tuple[int, int], tuple[bytes, bool]]]:
        """The edge after appending ``leaf_hashes``, and every tile that changed: (level, n) -> (its hashes,
        whether the row exists already and grows, i.e. an UPDATE rather than an INSERT)."""
        written: dict[tuple[int, int], tuple[bytes, bool]] = {}
        tails = list(self.tails)
        level, start, new = 0, self.size, leaf_hashes
        while new:
            first_n, offset = divmod(start, TILE_WIDTH)
            have = tails[level] if level < len(tails) else b""
            if len(have) != offset * HASH_SIZE:
                raise RuntimeError(
                    f"the kept right edge of level {level} holds {len(have) // HASH_SIZE} hashes, not {offset}"
                )
            buffer = have + b"".join(new)
            completed: list[bytes] = []
            for i in range(0, len(buffer), FULL_TILE_BYTES):
                data = buffer[i : i + FULL_TILE_BYTES]
                written[(level, first_n + i // FULL_TILE_BYTES)] = (data, i == 0 and offset > 0)
                if len(data) == FULL_TILE_BYTES:
                    completed.append(root_of([data[j : j + HASH_SIZE] for j in range(0, FULL_TILE_BYTES, HASH_SIZE)]))
            rest = len(buffer) % FULL_TILE_BYTES
            tail = buffer[len(buffer) - rest :] if rest else b""
            if level < len(tails):
                tails[level] = tail
            else:
                tails.append(tail)
            # A full tile's root is the next level's hash at index n (tlog-tiles); partial tiles never go up.
            level, start, new = level + 1, first_n, completed
        compact = list(self.range_)
        for leaf in leaf_hashes:
            height, node = 0, leaf
            while compact and compact[-1][0] == height:
                node = node_hash(compact.pop()[1], node)
                height += 1
            compact.append((height, node))
        edge = RightEdge(size=self.size + len(leaf_hashes), tails=tuple(tails), range_=tuple(compact))
        return edge, written

    @classmethod
    def from_tails(cls, size: int, tails: dict[int, bytes]) -> RightEdge:
        """The edge of a tree of ``size`` from its levels' partial tiles (``tails[level]``, at least the hashes
        that tile holds in this tree; longer is cut). The compact range is re-hashed from them: at most 255 hashes
        per level, once, when the sequencer starts or another node has moved the log."""
        levels = []
        compact: list[tuple[int, bytes]] = []
        level = 0
        while (size >> (TILE_HEIGHT * level)) > 0:
            width = (size >> (TILE_HEIGHT * level)) % TILE_WIDTH
            data = tails.get(level, b"")[: width * HASH_SIZE]
            if len(data) != width * HASH_SIZE:
                raise RuntimeError(
                    f"the last tile of level {level} does not hold {width} hashes; the log state is damaged"
                )
            levels.append(data)
            level += 1
        for level in reversed(range(len(levels))):
            data, first = levels[level], 0
            width = len(data) // HASH_SIZE
            for bit in reversed(range(TILE_HEIGHT)):
                if width & (1 << bit):
                    part = [data[(first + j) * HASH_SIZE : (first + j + 1) * HASH_SIZE] for j in range(1 << bit)]
                    compact.append((TILE_HEIGHT * level + bit, root_of(part)))
                    first += 1 << bit
        return cls(size=size, tails=tuple(levels), range_=tuple(compact))


def edge_tiles(size: int) -> list[tuple[int, int]]:
    """(level, n) of the partial tile of each level of a tree of ``size`` (the tiles :class:`RightEdge` needs)."""
    wanted = []
    level = 0
    while (size >> (TILE_HEIGHT * level)) > 0:
        count = size >> (TILE_HEIGHT * level)
        if count % TILE_WIDTH:
            wanted.append((level, count // TILE_WIDTH))
        level += 1
    return wanted


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
_TILE_TABLE = cast(Table, LogTile.__table__)
_TILES_BY_KEY = select(_TILE_TABLE.c.level, _TILE_TABLE.c.n, _TILE_TABLE.c.hashes).where(
    tuple_(_TILE_TABLE.c.level, _TILE_TABLE.c.n).in_(bindparam("keys", expanding=True))
)


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
            # One statement of one shape whatever the tiles (compiled once), on the session's connection.
            rows = session.connection().execute(_TILES_BY_KEY, {"keys": missing})
            for level, n, hashes in rows:
                known[(level, n)] = hashes
                TILE_CACHE.put((database, level, n), hashes)

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
