"""KEKs in a local JSON keyring file (mode 0600), for a steward's workstation and for tests.

Layout: {"formatVersion": 1, "keks": {NAME: {"versions": {"1": {"key": BASE64, "createdAt": ...}},
"retired": [..]}}}. Writes are atomic (temporary file + rename) under an exclusive lock file.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from voxgate.keys.errors import KekExists, KeyStoreError, UnknownKek
from voxgate.keys.model import KekVersion, check_kek_id
from voxgate.keys.record import KekRecord, StoredVersion, new_record

KEYRING_FORMAT_VERSION = 1


class FileProvider:
    def __init__(self, path: Path) -> None:
        self.path = path

    def get(self, kek_id: str, version: int) -> bytearray:
        return self._record(self._load(), kek_id).key(version)

    def latest_version(self, kek_id: str) -> int:
        return self._record(self._load(), kek_id).latest()

    def versions(self, kek_id: str) -> list[KekVersion]:
        return self._record(self._load(), kek_id).versions()

    def kek_ids(self) -> list[str]:
        return sorted(self._load())

    def create(self, kek_id: str) -> int:
        check_kek_id(kek_id)
        with self._locked():
            records = self._load() if self.path.exists() else {}
            if kek_id in records:
                raise KekExists(f"KEK {kek_id!r} already exists in {self.path}")
            records[kek_id] = new_record(kek_id)
            self._store(records)
        return 1

    def rotate(self, kek_id: str) -> int:
        with self._locked():
            records = self._load()
            records[kek_id], version = self._record(records, kek_id).with_new_version()
            self._store(records)
        return version

    def retire(self, kek_id: str, version: int) -> None:
        with self._locked():
            records = self._load()
            records[kek_id] = self._record(records, kek_id).without_version(version)
            self._store(records)

    def _record(self, records: dict[str, KekRecord], kek_id: str) -> KekRecord:
        record = records.get(kek_id)
        if record is None:
            raise UnknownKek(f"no KEK {kek_id!r} in keyring {self.path}")
        return record

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        if not self.path.parent.is_dir():
            raise KeyStoreError(f"keyring directory {self.path.parent} does not exist")
        lock_path = self.path.with_name(self.path.name + ".lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _load(self) -> dict[str, KekRecord]:
        try:
            info = self.path.stat()
        except FileNotFoundError:
            raise KeyStoreError(
                f"keyring {self.path} does not exist (create a KEK first: voxgate keys create)"
            ) from None
        if stat.S_IMODE(info.st_mode) & 0o077:
            raise KeyStoreError(
                f"keyring {self.path} is accessible by group or others "
                f"(mode {stat.S_IMODE(info.st_mode):04o}); run chmod 600 on it"
            )
        try:
            document = json.loads(self.path.read_bytes())
            return _records_from_json(document)
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise KeyStoreError(f"keyring {self.path} is malformed: {error}") from None

    def _store(self, records: dict[str, KekRecord]) -> None:
        document = {
            "formatVersion": KEYRING_FORMAT_VERSION,
            "keks": {kek_id: _record_to_json(r) for kek_id, r in sorted(records.items())},
        }
        data = json.dumps(document, indent=2, sort_keys=True).encode("utf-8") + b"\n"
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            temporary.replace(self.path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise


def _records_from_json(document: Any) -> dict[str, KekRecord]:
    if document.get("formatVersion") != KEYRING_FORMAT_VERSION:
        raise ValueError(f"unsupported formatVersion {document.get('formatVersion')!r}")
    records = {}
    for kek_id, entry in document["keks"].items():
        live = {
            int(v): StoredVersion(str(item["key"]), str(item["createdAt"]))
            for v, item in entry["versions"].items()
        }
        records[kek_id] = KekRecord(kek_id, live, frozenset(int(v) for v in entry["retired"]))
    return records


def _record_to_json(record: KekRecord) -> dict[str, Any]:
    return {
        "versions": {
            str(v): {"key": s.key_b64, "createdAt": s.created_at}
            for v, s in sorted(record.live.items())
        },
        "retired": sorted(record.retired),
    }
