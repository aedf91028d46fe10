"""Last known ZooKeeper values on local disk, so a restart during an outage serves them.

The file is rewritten after every applied change with the usual atomic dance (temp file in
the same directory, fsync, ``os.replace``, fsync of the directory): a crash leaves either the
old or the new file, never half of one. Writes happen on a thread of their own
(:meth:`SnapshotFile.save_soon`) so that an fsync never delays the next flip; a burst of changes
is written once, as its latest state. The file names the ZooKeeper path it copies, so a
snapshot of another root or environment is ignored rather than served. A missing or unreadable
snapshot is not fatal; the caller falls back to code defaults and says so in its status.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

FORMAT = 1


@dataclass(frozen=True)
class Snapshot:
    """Node values (parsed JSON) and their ZooKeeper ``mzxid``, saved at ``saved_at``."""

    values: Mapping[str, Any]
    mzxids: Mapping[str, int]
    saved_at: float


class SnapshotFile:
    """One JSON file per watched ZooKeeper path (``scope``)."""

    def __init__(self, path: str | os.PathLike[str], scope: str) -> None:
        self.path = Path(path)
        self.scope = scope
        self._cond = threading.Condition()
        self._pending: tuple[Mapping[str, Any], Mapping[str, int]] | None = None
        self._thread: threading.Thread | None = None

    def load(self) -> Snapshot | None:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            nodes = raw["nodes"]
            if raw.get("format") != FORMAT or not isinstance(nodes, dict):
                raise ValueError(f"unknown snapshot format {raw.get('format')!r}")
            if raw.get("scope") != self.scope:
                raise ValueError(f"it copies {raw.get('scope')!r}, not {self.scope!r}")
            return Snapshot(
                values={name: node["value"] for name, node in nodes.items()},
                mzxids={name: int(node["mzxid"]) for name, node in nodes.items()},
                saved_at=float(raw["saved_at"]),
            )
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.error("ignoring unreadable snapshot %s: %s", self.path, exc)
            return None

    def save_soon(self, values: Mapping[str, Any], mzxids: Mapping[str, int]) -> None:
        """Queue a write of this state, replacing any state not written yet."""
        with self._cond:
            self._pending = (values, mzxids)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="snapshot", daemon=True)
                self._thread.start()

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every queued state is on disk (at stop, and in tests)."""
        with self._cond:
            return self._cond.wait_for(lambda: self._thread is None, timeout)

    def _run(self) -> None:
        """Write until nothing is pending, then end: the next change starts a new writer.

        However it ends, ``_thread`` is cleared, so ``flush`` does not wait out its timeout
        and the next change starts a writer again."""
        try:
            while True:
                with self._cond:
                    if self._pending is None:  # under the lock: save_soon starts the next
                        self._thread = None
                        self._cond.notify_all()
                        return
                    values, mzxids = self._pending
                    self._pending = None
                self.save(values, mzxids)
        except Exception:
            log.exception(
                "snapshot writer for %s failed; the next change starts a new one", self.path
            )
        finally:
            with self._cond:
                if self._thread is threading.current_thread():  # ended by an error
                    self._thread = None
                    self._cond.notify_all()

    def save(self, values: Mapping[str, Any], mzxids: Mapping[str, int]) -> bool:
        """Write atomically now; a failure is logged and reported, never raised."""
        doc = {
            "format": FORMAT,
            "scope": self.scope,
            "saved_at": time.time(),
            "nodes": {n: {"value": v, "mzxid": mzxids.get(n, 0)} for n, v in values.items()},
        }
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    json.dump(doc, fh, sort_keys=True)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, self.path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
            _fsync_dir(self.path.parent)
            return True
        except OSError as exc:
            log.error("could not write snapshot %s: %s", self.path, exc)
            return False


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable; some filesystems refuse, which is harmless here."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
