"""Reading the rows out of a damaged SQLite file, page by page, without SQLite.

SQLite refuses a truncated or partly overwritten database as a whole ("database disk image is malformed"),
and the CLI's ``.recover`` is not on every machine (nor usable by the ``sqlite3`` module). This reads the
file format itself (https://www.sqlite.org/fileformat2.html): the header, the committed frames of the
``-wal`` file laid over the pages they replace, each table's b-tree from the root page its schema names,
then every table leaf page that no surviving tree reaches (its parent page was lost), the way SQLite's
recovery extension fills ``lost_and_found``. Pages on the freelist are skipped (deleted rows stay deleted).
A cell is kept only when its whole record decodes (overflow chain included); the caller decides which
table an orphan row belongs to. Nothing here writes.
"""

from __future__ import annotations

import mmap
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_HEADER_MAGIC = b"SQLite format 3\x00"
_TABLE_LEAF, _TABLE_INTERIOR = 0x0D, 0x05
_WAL_MAGIC = (0x377F0682, 0x377F0683)  # checksums little- / big-endian
_WAL_HEADER = struct.Struct(">IIIIIIII")
_WAL_FRAME = struct.Struct(">IIIIII")
_MAX_OVERFLOW_PAGES = 1 << 20

Record = list[Any]


@dataclass
class SalvagedFile:
    """What could be read from a database file.

    :param tables: ``{table: [(rowid, values)]}`` reached from the roots the schema names.
    :param orphans: ``(rowid, values)`` of table leaf pages no surviving tree reaches (any table).
    :param page_count: the pages the database holds (its header, or the committed WAL, else the file size).
    :param pages_missing: pages cut off, plus pages that are not what their parent page says they are.
    :param cells_lost: cells whose record did not decode (a broken overflow chain, a damaged record).
    :param schema_read: whether the schema (page 1's tree) was read.
    :param wal_frames: committed WAL frames laid over the file.
    """

    tables: dict[str, list[tuple[int, Record]]] = field(default_factory=dict)
    orphans: list[tuple[int, Record]] = field(default_factory=list)
    page_count: int = 0
    pages_missing: int = 0
    cells_lost: int = 0
    schema_read: bool = False
    wal_frames: int = 0


def _varint(buf: bytes | memoryview, pos: int) -> tuple[int, int]:
    """SQLite's big-endian varint at ``pos``: ``(value, next position)`` (IndexError past the end)."""
    value = 0
    for i in range(8):
        byte = buf[pos + i]
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            return value, pos + i + 1
    return (value << 8) | buf[pos + 8], pos + 9


def _serial_size(serial: int) -> int:
    if serial >= 12:
        return (serial - 12) // 2 if serial % 2 == 0 else (serial - 13) // 2
    if serial in (10, 11):
        raise ValueError("reserved serial type")
    return (0, 1, 2, 3, 4, 6, 8, 8, 0, 0)[serial]


def decode_record(payload: bytes, encoding: str = "utf-8") -> Record:
    """
    A record's values (https://www.sqlite.org/fileformat2.html#record_format).

    :param payload: the whole record.
    :param encoding: the database's text encoding.
    :returns: the values (``None``, int, float, str, bytes).
    :raises ValueError: when the record does not decode exactly.
    """
    try:
        header_size, pos = _varint(payload, 0)
        serials = []
        while pos < header_size:
            serial, pos = _varint(payload, pos)
            serials.append(serial)
    except IndexError as exc:
        raise ValueError("record header runs past the payload") from exc
    if pos != header_size or header_size > len(payload):
        raise ValueError("record header is inconsistent")
    values: Record = []
    for serial in serials:
        size = _serial_size(serial)
        raw = payload[pos : pos + size]
        if len(raw) != size:
            raise ValueError("record body runs past the payload")
        pos += size
        if serial == 0:
            values.append(None)
        elif serial <= 6:
            values.append(int.from_bytes(raw, "big", signed=True))
        elif serial == 7:
            values.append(struct.unpack(">d", raw)[0])
        elif serial in (8, 9):
            values.append(serial - 8)
        elif serial % 2 == 0:
            values.append(bytes(raw))
        else:
            values.append(bytes(raw).decode(encoding))  # UnicodeDecodeError is a ValueError
    if pos != len(payload):
        raise ValueError("record body is longer than its header says")
    return values


def _wal_checksum(data: bytes, big_endian: bool, s0: int, s1: int) -> tuple[int, int]:
    words = struct.unpack(f"{'>' if big_endian else '<'}{len(data) // 4}I", data)
    for i in range(0, len(words), 2):
        s0 = (s0 + words[i] + s1) & 0xFFFFFFFF
        s1 = (s1 + words[i + 1] + s0) & 0xFFFFFFFF
    return s0, s1


def _wal_pages(wal: bytes) -> tuple[int, dict[int, int], int, int]:
    """The WAL's committed frames: ``(page size, {page: offset of its last committed copy}, page count after
    the last commit, frames)``; the frames after the last valid commit frame are left out, as SQLite does."""
    if len(wal) < _WAL_HEADER.size:
        return 0, {}, 0, 0
    magic, _, page_size, _, salt1, salt2, ck1, ck2 = _WAL_HEADER.unpack_from(wal)
    if magic not in _WAL_MAGIC or page_size < 512 or page_size & (page_size - 1):
        return 0, {}, 0, 0
    big_endian = magic & 1 == 1
    s0, s1 = _wal_checksum(wal[:24], big_endian, 0, 0)
    if (s0, s1) != (ck1, ck2):
        return 0, {}, 0, 0
    committed: dict[int, int] = {}
    pending: dict[int, int] = {}
    page_count = frames = 0
    offset = _WAL_HEADER.size
    while offset + _WAL_FRAME.size + page_size <= len(wal):
        page, size_after, f_salt1, f_salt2, f_ck1, f_ck2 = _WAL_FRAME.unpack_from(wal, offset)
        if (f_salt1, f_salt2) != (salt1, salt2) or page == 0:
            break
        data_at = offset + _WAL_FRAME.size
        s0, s1 = _wal_checksum(wal[offset : offset + 8], big_endian, s0, s1)
        s0, s1 = _wal_checksum(wal[data_at : data_at + page_size], big_endian, s0, s1)
        if (s0, s1) != (f_ck1, f_ck2):
            break
        pending[page] = data_at
        if size_after:
            committed.update(pending)
            frames += len(pending)
            pending.clear()
            page_count = size_after
        offset = data_at + page_size
    return page_size, committed, page_count, frames


class _Pages:
    """The database's pages: the file's, replaced by the WAL's committed copies."""

    def __init__(self, db: bytes, wal: bytes) -> None:
        self.db = db
        self.wal = wal
        wal_page_size, self.wal_offsets, wal_page_count, self.wal_frames = _wal_pages(wal)
        header = db[:100] if len(db) >= 100 else b""
        if 1 in self.wal_offsets:
            header = wal[self.wal_offsets[1] : self.wal_offsets[1] + 100]
        self.page_size, reserved, self.encoding = wal_page_size or 4096, 0, "utf-8"
        self.freelist_trunk = 0
        header_pages = 0
        if header.startswith(_HEADER_MAGIC):
            raw_size = struct.unpack_from(">H", header, 16)[0]
            size = 65536 if raw_size == 1 else raw_size
            if size >= 512 and not size & (size - 1):
                self.page_size = size
            reserved = header[20]
            encoding = struct.unpack_from(">I", header, 56)[0]
            self.encoding = {2: "utf-16-le", 3: "utf-16-be"}.get(encoding, "utf-8")
            header_pages = struct.unpack_from(">I", header, 28)[0]
            self.freelist_trunk = struct.unpack_from(">I", header, 32)[0]
        self.usable = self.page_size - reserved
        self.file_pages = len(db) // self.page_size
        self.page_count = wal_page_count or header_pages or self.file_pages
        self.highest = max(self.page_count, self.file_pages, max(self.wal_offsets, default=0))

    def get(self, number: int) -> bytes | None:
        """Page ``number`` (1-based), or ``None`` when it is not all there."""
        if number in self.wal_offsets:
            at = self.wal_offsets[number]
            return self.wal[at : at + self.page_size]
        if number < 1 or number > self.file_pages:
            return None
        at = (number - 1) * self.page_size
        return self.db[at : at + self.page_size]

    def kind(self, number: int) -> int | None:
        """The b-tree page type byte of page ``number`` (>= 2), read without copying the page."""
        if number in self.wal_offsets:
            return self.wal[self.wal_offsets[number]]
        if number < 1 or number > self.file_pages:
            return None
        return self.db[(number - 1) * self.page_size]

    def readable(self) -> int:
        """How many of the database's pages are all there."""
        beyond_file = sum(1 for n in self.wal_offsets if self.file_pages < n <= self.page_count)
        return min(self.page_count, self.file_pages) + beyond_file

    def freelist(self) -> set[int]:
        """Pages on the freelist (trunks and leaves), as far as its chain is readable."""
        free: set[int] = set()
        trunk = self.freelist_trunk
        while trunk and trunk not in free:
            page = self.get(trunk)
            if page is None:
                break
            free.add(trunk)
            following, count = struct.unpack_from(">II", page, 0)
            count = min(count, (self.usable - 8) // 4)
            free.update(struct.unpack_from(f">{count}I", page, 8))
            trunk = following
        return free


class _Reader:
    def __init__(self, pages: _Pages) -> None:
        self.pages = pages
        self.visited: set[int] = set()
        self.missing = 0
        self.cells_lost = 0

    def _local_size(self, payload: int) -> int:
        usable = self.pages.usable
        most = usable - 35
        if payload <= most:
            return payload
        least = ((usable - 12) * 32 // 255) - 23
        local = least + (payload - least) % (usable - 4)
        return local if local <= most else least

    def _payload(self, page: bytes, pos: int, size: int) -> bytes | None:
        """A cell's whole payload, following its overflow chain; ``None`` when part of it is gone."""
        local = self._local_size(size)
        if pos + local > self.pages.usable:
            return None
        parts = [page[pos : pos + local]]
        remaining = size - local
        if remaining:
            if pos + local + 4 > self.pages.usable:
                return None
            number = struct.unpack_from(">I", page, pos + local)[0]
            seen = 0
            while remaining > 0:
                overflow = self.pages.get(number) if seen < _MAX_OVERFLOW_PAGES else None
                if overflow is None or number in self.visited:
                    return None
                self.visited.add(number)
                seen += 1
                chunk = overflow[4 : 4 + min(remaining, self.pages.usable - 4)]
                parts.append(chunk)
                remaining -= len(chunk)
                number = struct.unpack_from(">I", overflow, 0)[0]
        return b"".join(parts)

    def _cell_pointers(self, page: bytes, header_at: int, header_size: int) -> list[int]:
        count = struct.unpack_from(">H", page, header_at + 3)[0]
        first = header_at + header_size
        if first + 2 * count > self.pages.usable:
            return []
        pointers = struct.unpack_from(f">{count}H", page, first)
        return [p for p in pointers if first + 2 * count <= p < self.pages.usable]

    def leaf_rows(self, number: int, page: bytes) -> list[tuple[int, Record]]:
        """The rows of a table leaf page (cells that do not decode are counted and left out)."""
        header_at = 100 if number == 1 else 0
        rows = []
        for pos in self._cell_pointers(page, header_at, 8):
            try:
                size, at = _varint(page, pos)
                rowid, at = _varint(page, at)
                payload = self._payload(page, at, size)
                if payload is None:
                    raise ValueError("payload is cut")
                signed = rowid - (1 << 64) if rowid >= 1 << 63 else rowid
                rows.append((signed, decode_record(payload, self.pages.encoding)))
            except (IndexError, ValueError, struct.error):
                self.cells_lost += 1
        return rows

    def table(self, root: int) -> list[tuple[int, Record]]:
        """Every row reachable from a table's root page (branches whose pages are gone are skipped)."""
        rows: list[tuple[int, Record]] = []
        stack = [root]
        while stack:
            number = stack.pop()
            if number in self.visited:
                continue
            page = self.pages.get(number)
            header_at = 100 if number == 1 else 0
            kind = page[header_at] if page is not None else None
            if kind not in (_TABLE_LEAF, _TABLE_INTERIOR):
                self.missing += page is not None  # cut pages are counted once, by the caller
                continue
            self.visited.add(number)
            if kind == _TABLE_LEAF:
                rows.extend(self.leaf_rows(number, page))
                continue
            pointers = self._cell_pointers(page, header_at, 12)
            children = [struct.unpack_from(">I", page, p)[0] for p in pointers]
            children.append(struct.unpack_from(">I", page, header_at + 8)[0])
            stack.extend(reversed(children))
        return rows


@contextmanager
def _mapped(path: Path) -> Iterator[bytes]:
    """A file's bytes, memory-mapped (a store can be gigabytes); empty when the file is missing or empty."""
    if not path.exists() or path.stat().st_size == 0:
        yield b""
        return
    with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        yield mapped  # type: ignore[misc]


def salvage_database(path: Path, tables: tuple[str, ...]) -> SalvagedFile:
    """
    Read what survives of a database file and its ``-wal``.

    :param path: the database file (``path`` + ``-wal`` is read too when present).
    :param tables: the tables whose reachable rows to return.
    :returns: their rows, the orphan rows and what was lost.
    """
    with _mapped(path) as db, _mapped(Path(f"{path}-wal")) as wal:
        pages = _Pages(db, wal)
        reader = _Reader(pages)
        found = SalvagedFile(page_count=pages.page_count, wal_frames=pages.wal_frames)
        schema = reader.table(1)
        found.schema_read = bool(schema)
        roots = {
            values[1]: values[3]
            for _, values in schema
            if len(values) == 5 and values[0] == "table" and isinstance(values[3], int) and values[3] > 1
        }
        # Every table is walked (the R-tree's shadow tables too), so only truly orphaned leaves remain.
        walked = {name: reader.table(root) for name, root in roots.items()}
        found.tables = {name: walked.get(name, []) for name in tables}
        skip = reader.visited | pages.freelist()
        for number in range(2, pages.highest + 1):
            if number not in skip and pages.kind(number) == _TABLE_LEAF:
                found.orphans.extend(reader.leaf_rows(number, pages.get(number)))
        found.pages_missing = pages.page_count - pages.readable() + reader.missing
        found.cells_lost = reader.cells_lost
    return found
