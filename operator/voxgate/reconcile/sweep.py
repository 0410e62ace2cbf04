"""The ledger sweep: settle the entries of TrainingJobs that vanished while nobody watched.

TrainingJobs carry no finalizer (one write less per job, and deleting one never waits for the
operator). A job deleted while the operator is down, or during a watch gap, goes without its
deletion handler: the garbage collector removes its children (the ServiceAccount, so its tokens
die, and the Job) through their owner references, but its ledger entry would stay Reserved or
Charged for ever, holding budget. The SpeechDataset's periodic pass runs this sweep: a live
entry whose job no longer exists (or exists under another uid: deleted and re-created) is
finished (a charge settles, a reservation is released), its ServiceAccount revoked if the
garbage collector has not got to it yet, with an audit record for each.
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass

from voxgate.builders.names import ChildNames
from voxgate.privacy.ledger import EntryState, Ledger, LedgerEntry
from voxgate.reconcile.trainingjob import Operator

log = logging.getLogger(__name__)

# A few per dataset per interval: a job that vanished unseen waits at most this long.
SWEEP_INTERVAL = datetime.timedelta(minutes=5)
LIVE = (EntryState.RESERVED, EntryState.CHARGED)


@dataclass(frozen=True)
class Vanished:
    entry: LedgerEntry
    finished_as: str  # "ledger.settled" or "ledger.released"


def live_entries(ledger: Ledger | None) -> tuple[LedgerEntry, ...]:
    return tuple(e for e in ledger.entries if e.state in LIVE) if ledger is not None else ()


def finished_as(entry: LedgerEntry) -> str:
    return "ledger.settled" if entry.state == EntryState.CHARGED else "ledger.released"


async def sweep_vanished_jobs(
    op: Operator, namespace: str, dataset: str, ledger: Ledger | None, now: datetime.datetime
) -> list[Vanished]:
    """Finish the live entries whose TrainingJob is gone; returns what was finished."""
    finished: list[Vanished] = []
    for entry in live_entries(ledger):
        job = await op.io(op.kube.get, "TrainingJob", entry.job_namespace, entry.job_name)
        if job is not None and job["metadata"].get("uid") == entry.uid:
            continue
        await op.io(op.ledger.finish, namespace, dataset, entry.uid, now)
        subject = {
            "kind": "TrainingJob",
            "namespace": entry.job_namespace,
            "name": entry.job_name,
            "uid": entry.uid,
        }
        vanished = Vanished(entry, finished_as(entry))
        op.audit.record(vanished.finished_as, subject, {"epsilon": entry.epsilon})
        op.credentials_live(entry.uid, False)
        await _revoke_orphaned_account(op, entry)
        op.audit.record(
            "job.revoked",
            subject,
            {"reason": "Deleted", "source": "ledger sweep", "message": "deleted while unseen"},
        )
        log.info("settled the ledger entry of vanished TrainingJob %s", entry.job)
        finished.append(vanished)
    return finished


async def _revoke_orphaned_account(op: Operator, entry: LedgerEntry) -> None:
    """Delete the job's ServiceAccount, but only the one the vanished job owned: a job re-created
    under the same name owns an account of the same name that must stay."""
    name = ChildNames.for_job(entry.job_name).service_account
    account = await op.io(op.kube.get_service_account, entry.job_namespace, name)
    if account is None:
        return
    owners = account["metadata"].get("ownerReferences") or []
    if any(owner.get("uid") == entry.uid for owner in owners):
        uid = account["metadata"].get("uid")
        if await op.io(op.kube.delete_service_account, entry.job_namespace, name, uid):
            op.audit.record(
                "credentials.revoked",
                {"kind": "TrainingJob", "namespace": entry.job_namespace,
                 "name": entry.job_name, "uid": entry.uid},
                {"serviceAccount": name},
            )  # fmt: skip
