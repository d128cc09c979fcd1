"""One SQLite file shared by the event loop: a single writer thread with group commit, and readers.

SQLite allows one writer at a time, so every write goes through one thread. That thread takes all the
writes queued while it was busy and runs them in ONE transaction (each inside its own savepoint, so a
failing write rolls back alone): concurrent requests share the cost of a commit. On the prototype this
lifted durable ingest from 2.6k to 7.6k transactions' worth of work per second. The stdlib sqlite3
module is used directly; aiosqlite costs about 5x more CPU per transaction.

Readers run in a small thread pool, each thread with its own connection; in WAL mode they see every
committed write and never block the writer.

Checkpoints (copying the write-ahead log back into the database file) run in a thread of their own,
never in a commit: SQLite's automatic checkpoint runs inside the commit that crosses 1,000 log pages,
and with its fsync that commit took 10-26 ms, the p99 of every write queued behind it (at 500
events/s, twice a second). A passive checkpoint never blocks the writer. But the log starts over
only once it is copied whole, which a checkpoint racing a busy writer never achieves: under steady
load it grew to 600 MiB. So when the log is long, the writer itself copies the last few pages the
thread left between two batches (the rest is done), and its next commit starts the log over.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from wahooks.storage.migrations import migrations_for

log = logging.getLogger(__name__)
T = TypeVar("T")

_MAX_BATCH = 1024
CHECKPOINT_EVERY = 0.5  # seconds between the checkpoint thread's passive checkpoints
# Once the log has been checkpointed whole, the writer starts it over and truncates what lies
# beyond this, so a burst does not leave a large file behind.
_WAL_SIZE_LIMIT = 64 * 1024 * 1024
# A log this long (pages, 32 MiB at the default 4 KiB) is finished by the writer between batches.
LOG_PAGES_TO_RESTART = 8192
_STOP = object()


# What the file costs in memory, bounded whatever its size (docs/operations.md): page caches of
# 8 MiB for the writer and 2 MiB per reader, no memory map. The hot path touches few pages (the
# tails of the indexes it appends to, the webhooks it reads), and a miss is a pread from the OS's
# page cache, which holds the file anyway. A memory map put every page read into the process's
# resident memory (up to its size, 256 MiB), and four 64 MiB caches could hold another 256 MiB:
# 413 MiB resident with 200,000 deliveries pending.
WRITER_CACHE_KIB = 8 * 1024
READER_CACHE_KIB = 2 * 1024


def _connect(path: str, synchronous: str, cache_kib: int = WRITER_CACHE_KIB) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    # NORMAL in WAL mode survives any process crash (SIGKILL included); only an OS crash or power
    # loss can drop the last commits. FULL closes that gap at the cost of an fsync per commit.
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute(f"PRAGMA cache_size=-{cache_kib}")
    conn.execute("PRAGMA temp_store=MEMORY")
    conn.execute("PRAGMA busy_timeout=10000")
    conn.execute("PRAGMA mmap_size=0")
    return conn


class SqliteDatabase:
    def __init__(
        self,
        path: str,
        *,
        synchronous: str = "NORMAL",
        readers: int = 3,
        on_rollback: Callable[[], None] | None = None,
        checkpoint_every: float = CHECKPOINT_EVERY,
        log_pages_to_restart: int = LOG_PAGES_TO_RESTART,
    ) -> None:
        self.path = path
        self._checkpoint_every = checkpoint_every
        self._log_pages_to_restart = log_pages_to_restart
        self._on_rollback = on_rollback
        self._synchronous = synchronous
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._unsent: list[tuple[Callable[[sqlite3.Connection], Any], asyncio.Future[Any]]] = []
        self._writer: threading.Thread | None = None
        self._checkpointer: threading.Thread | None = None
        self._stopping = threading.Event()
        self._log_long = False  # set by the checkpoint thread, cleared by the writer
        self._loop: asyncio.AbstractEventLoop | None = None
        self._readers = ThreadPoolExecutor(max_workers=readers, thread_name_prefix="sqlite-read")
        self._local = threading.local()
        self._reader_connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        if not os.path.exists(self.path):
            # It holds signing secrets and WAHA keys: readable by its owner only (and SQLite
            # gives its -wal and -shm files the same permissions).
            os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
        conn = _connect(self.path, self._synchronous)
        _migrate(conn)
        conn.execute("PRAGMA wal_autocheckpoint=0")  # the checkpoint thread's job
        conn.execute(f"PRAGMA journal_size_limit={_WAL_SIZE_LIMIT}")
        self._writer = threading.Thread(
            target=self._write_loop, args=(conn,), name="sqlite-writer", daemon=True
        )
        self._writer.start()
        self._checkpointer = threading.Thread(
            target=self._checkpoint_loop,
            args=(_connect(self.path, self._synchronous, READER_CACHE_KIB),),
            name="sqlite-checkpoint", daemon=True,
        )
        self._checkpointer.start()

    async def stop(self) -> None:
        if self._checkpointer is not None:
            self._stopping.set()
            await asyncio.to_thread(self._checkpointer.join)
            self._checkpointer = None
        if self._writer is not None:
            self._hand_over()  # what this turn wrote goes before the end
            self._queue.put(_STOP)
            await asyncio.to_thread(self._writer.join)
            self._writer = None
        self._readers.shutdown(wait=True)
        with self._lock:
            for conn in self._reader_connections:
                conn.close()
            self._reader_connections.clear()

    def write(self, work: Callable[[sqlite3.Connection], T]) -> asyncio.Future[T]:
        """Run `work` in the writer's next transaction; the future resolves after COMMIT."""
        loop = self._loop
        assert loop is not None, "database not started"
        future: asyncio.Future[T] = loop.create_future()
        unsent = self._unsent
        unsent.append((work, future))
        if len(unsent) == 1:
            loop.call_soon(self._hand_over)
        return future

    def _hand_over(self) -> None:
        """Give the writer every write this turn of the event loop made, in one put: waking a
        waiting thread is a system call, and paying it once per write cost more than the
        ingest's own Python work."""
        unsent, self._unsent = self._unsent, []
        if unsent:
            self._queue.put(unsent)

    async def read(self, work: Callable[[sqlite3.Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, self._run_read, work)

    def _run_read(self, work: Callable[[sqlite3.Connection], T]) -> T:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = _connect(self.path, self._synchronous, READER_CACHE_KIB)
            conn.execute("PRAGMA query_only=1")
            self._local.conn = conn
            with self._lock:
                self._reader_connections.append(conn)
        conn.execute("BEGIN")
        try:
            return work(conn)
        finally:
            conn.execute("COMMIT")

    def _checkpoint_loop(self, conn: sqlite3.Connection) -> None:
        try:
            while not self._stopping.wait(self._checkpoint_every):
                try:
                    _, log_pages, _ = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    if log_pages >= self._log_pages_to_restart:
                        self._log_long = True
                except sqlite3.Error as exc:  # busy or full disk: the next round tries again
                    log.warning("sqlite checkpoint failed",
                                extra={"action": "sqlite.checkpoint", "error": str(exc)})
        finally:
            conn.close()

    def _write_loop(self, conn: sqlite3.Connection) -> None:
        try:
            while True:
                first = self._queue.get()
                if first is _STOP:
                    return
                batch = list(first)
                stop = False
                while len(batch) < _MAX_BATCH:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is _STOP:
                        stop = True
                        break
                    batch += item
                self._run_batch(conn, batch)
                if self._log_long:
                    self._log_long = False
                    self._finish_checkpoint(conn)
                if stop:
                    return
        finally:
            conn.close()

    def _finish_checkpoint(self, conn: sqlite3.Connection) -> None:
        """Copy what the checkpoint thread has not yet, with no write in progress, so that the
        next commit starts the log over."""
        try:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error as exc:
            log.warning("sqlite checkpoint failed",
                        extra={"action": "sqlite.checkpoint", "error": str(exc)})

    def _run_batch(self, conn: sqlite3.Connection, batch: list[Any]) -> None:
        try:
            results = self._run_optimistically(conn, batch)
        except Exception:
            # Some write failed: undo the batch and run it again with a savepoint per write, so
            # only the failing one fails. (Writes are functions of the database's state, so a
            # second run is equivalent; the first left nothing behind.)
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if self._on_rollback is not None:
                self._on_rollback()
            results = self._run_isolated(conn, batch)
        assert self._loop is not None
        self._loop.call_soon_threadsafe(_resolve, results)

    def _run_optimistically(
        self, conn: sqlite3.Connection, batch: list[Any]
    ) -> list[tuple[asyncio.Future[Any], Any, BaseException | None]]:
        """The common case: every write succeeds, and one transaction without savepoints (two
        statements less per write) carries them all."""
        conn.execute("BEGIN IMMEDIATE")
        results: list[tuple[asyncio.Future[Any], Any, BaseException | None]] = [
            (future, work(conn), None) for work, future in batch
        ]
        conn.execute("COMMIT")
        return results

    def _run_isolated(
        self, conn: sqlite3.Connection, batch: list[Any]
    ) -> list[tuple[asyncio.Future[Any], Any, BaseException | None]]:
        results: list[tuple[asyncio.Future[Any], Any, BaseException | None]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for work, future in batch:
                conn.execute("SAVEPOINT op")
                try:
                    value = work(conn)
                except Exception as exc:  # one failing write must not sink its neighbours
                    conn.execute("ROLLBACK TO op")
                    conn.execute("RELEASE op")
                    results.append((future, None, exc))
                else:
                    conn.execute("RELEASE op")
                    results.append((future, value, None))
            conn.execute("COMMIT")
        except Exception as exc:
            log.exception("sqlite commit failed", extra={"action": "sqlite.commit"})
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if self._on_rollback is not None:
                self._on_rollback()
            results = [(future, None, exc) for _, future in batch]
        return results


def _resolve(results: list[tuple[asyncio.Future[Any], Any, BaseException | None]]) -> None:
    for future, value, error in results:
        if future.cancelled():
            continue
        if error is None:
            future.set_result(value)
        else:
            future.set_exception(error)


def _migrate(conn: sqlite3.Connection) -> None:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations"
        " (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    for migration in migrations_for("sqlite"):
        # Checked inside the write lock, so processes opening a new file together (a server and
        # a CLI command) apply each migration once.
        conn.execute("BEGIN IMMEDIATE")
        try:
            done = conn.execute(
                "SELECT 1 FROM schema_migrations WHERE version = ?", (migration.version,)
            ).fetchone()
            if done is None:
                log.info(
                    "applying migration", extra={"action": "migrate", "version": migration.version}
                )
                for statement in _statements(migration.sql):
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_migrations VALUES (?, ?, datetime('now'))",
                    (migration.version, migration.name),
                )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


def _statements(sql: str) -> list[str]:
    """A migration file's statements, split where sqlite3 says one is complete."""
    statements, current = [], ""
    for line in sql.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current)
            current = ""
    if current.strip().strip(";").strip() and not current.strip().startswith("--"):
        statements.append(current)
    return statements
