"""`Anchorer`: what the operator's background task calls to anchor a trail now and then."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from voxgate.audit.anchor import AnchorStore, StoredAnchor, should_anchor
from voxgate.audit.errors import AnchorRegression
from voxgate.audit.trail import AuditTrail, utc_now


class Anchorer:
    """Anchors `trail`'s head in `store` when `should_anchor` says so.

    Not thread-safe on its own: one background task owns it. The store's client is synchronous,
    so from asyncio call `await asyncio.to_thread(anchorer.tick)`.
    """

    def __init__(
        self,
        trail: AuditTrail,
        store: AnchorStore,
        interval: timedelta = timedelta(seconds=30),
        *,
        max_pending: int | None = 1000,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.trail = trail
        self.store = store
        self.interval = interval
        self.max_pending = max_pending
        self.clock = clock
        self.anchored: StoredAnchor | None = None
        self.last_anchor_time: datetime | None = None
        self._loaded = False

    def tick(self) -> StoredAnchor | None:
        """Anchor if due; returns the new anchor, or None if nothing was due.

        Raises AnchorRegression / AnchorMismatch when the trail is behind or beside the stored
        anchor (alert on these: the trail lost or changed records), AnchorError when the API
        server cannot be reached or refuses.
        """
        if not self._loaded:
            self.anchored = self.store.read()
            self._loaded = True
        anchored_seq = self.anchored.seq if self.anchored is not None else 0
        head = self.trail.head
        now = self.clock()
        due = should_anchor(
            self.last_anchor_time,
            now,
            self.interval,
            head.seq - anchored_seq,
            max_pending=self.max_pending,
        )
        if head.seq < anchored_seq:
            raise AnchorRegression(
                f"the audit trail is at seq {head.seq} but {self.store.where} anchors seq "
                f"{anchored_seq}: records were lost or the trail was replaced"
            )
        if not due:
            return None
        # An anchored record must be on disk, or a crash would make the anchor look like
        # evidence of truncation.
        self.trail.sync()
        self.anchored = self.store.anchor(head, now)
        self.last_anchor_time = now
        return self.anchored
