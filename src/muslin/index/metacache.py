"""Wheel METADATA by sha256, cached in one SQLite file (``$MUSLIN_CACHE_DIR/http/metadata.sqlite``).

A wheel's METADATA never changes for a given file hash, and a plan reads ~100 of them.
One small file each made a cold plan create ~100 files, and on ext4 a file created soon
after many were deleted (a cache just cleared) costs up to ~1 ms of CPU; one SQLite file
takes them all in one transaction (~10 ms).  SQLite also does the locking when several
muslin processes share the cache.  A database that cannot be read (corrupt, locked for
too long, not writable) is a cache miss, never an error; a corrupt one is replaced.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlite3

log = logging.getLogger(__name__)

_SCHEMA = "CREATE TABLE IF NOT EXISTS metadata (sha256 TEXT PRIMARY KEY, data BLOB NOT NULL) WITHOUT ROWID"


class MetadataCache:
    """METADATA bytes by the wheel's sha256 (thread-safe; the connection opens on first use)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._unusable = False

    def _connect(self) -> sqlite3.Connection | None:
        """The open connection (under the lock); None when the database cannot be used."""
        if self._conn is not None or self._unusable:
            return self._conn
        import sqlite3

        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=5.0, isolation_level=None, check_same_thread=False)
            try:
                conn.execute(_SCHEMA)
            except sqlite3.DatabaseError:
                conn.close()
                if not self._replace():
                    raise
                conn = sqlite3.connect(self.path, timeout=5.0, isolation_level=None, check_same_thread=False)
                conn.execute(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            log.warning("cannot use the metadata cache (%s)", type(exc).__name__)
            self._unusable = True
            return None
        self._conn = conn
        return conn

    def _replace(self) -> bool:
        """Remove a database file that is not one (it is a cache: it starts again empty)."""
        try:
            self.path.unlink()
        except OSError:
            return False
        return True

    def get(self, sha256: str) -> bytes | None:
        import sqlite3

        with self._lock:
            conn = self._connect()
            if conn is None:
                return None
            try:
                row = conn.execute("SELECT data FROM metadata WHERE sha256 = ?", (sha256,)).fetchone()
            except sqlite3.Error as exc:
                log.warning("cannot read the metadata cache (%s)", type(exc).__name__)
                return None
        return bytes(row[0]) if row is not None else None

    def put_many(self, entries: Mapping[str, bytes]) -> None:
        """Store ``entries`` (sha256 -> METADATA) in one transaction."""
        if not entries:
            return
        import sqlite3

        with self._lock:
            conn = self._connect()
            if conn is None:
                return
            try:
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany("INSERT OR REPLACE INTO metadata VALUES (?, ?)", entries.items())
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                log.warning("cannot write the metadata cache (%s)", type(exc).__name__)
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")

    def close(self) -> None:
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
