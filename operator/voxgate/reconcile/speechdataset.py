"""SpeechDataset: Ready when its signed manifest is published and verifies; budget from the ledger.

The sealed shards live on storage the operator does not mount, so the steward publishes the
signed manifest (a few kilobytes) as the ConfigMap `<dataset>-manifest` (key manifest.json) next
to the dataset; `voxgate seal` writes the file. The operator verifies its Ed25519 signature with
spec.encryption.signingPublicKey and pins its digest in status, which the key broker checks
before releasing any key. Consent expiry stops running jobs like a grant revocation does.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from voxgate import metrics
from voxgate.privacy import ledger as ledgers
from voxgate.reconcile import reasons
from voxgate.reconcile.conditions import set_condition
from voxgate.reconcile.datagrant import GrantPhase, grant_phase, stop_jobs_using
from voxgate.reconcile.sweep import SWEEP_INTERVAL, sweep_vanished_jobs
from voxgate.reconcile.trainingjob import Event, Operator, Result
from voxgate.sealed.errors import SealError
from voxgate.sealed.manifest import verify_manifest
from voxgate.sealed.signing import load_public_key

MANIFEST_KEY = "manifest.json"


def manifest_config_map(dataset_name: str) -> str:
    return f"{dataset_name}-manifest"


def check_manifest(
    dataset: Mapping[str, Any], config_map: Mapping[str, Any] | None
) -> tuple[bool, str, str, dict[str, Any]]:
    """(ready, reason, message, status fields) for the published manifest."""
    name = dataset["metadata"]["name"]
    if config_map is None or MANIFEST_KEY not in (config_map.get("data") or {}):
        return (
            False,
            reasons.MANIFEST_MISSING,
            (
                f"publish the signed manifest as ConfigMap {manifest_config_map(name)} "
                f"(key {MANIFEST_KEY})"
            ),
            {},
        )
    try:
        key = load_public_key(dataset["spec"]["encryption"]["signingPublicKey"])
        manifest = verify_manifest(config_map["data"][MANIFEST_KEY].encode(), key)
    except SealError as error:
        reason = (
            reasons.SIGNATURE_INVALID
            if "signature" in str(error).lower()
            else reasons.MANIFEST_INVALID
        )
        return False, reason, str(error), {}
    if manifest.dataset_id not in (name, f"{dataset['metadata']['namespace']}/{name}"):
        return (
            False,
            reasons.MANIFEST_INVALID,
            f"the manifest is for dataset {manifest.dataset_id}, not {name}",
            {},
        )
    fields = {"manifestDigest": manifest.digest(), "shardCount": len(manifest.shards)}
    return True, reasons.DATASET_READY, f"manifest verified: {len(manifest.shards)} shards", fields


def consent_expiry(dataset: Mapping[str, Any]) -> datetime.datetime | None:
    value = dataset.get("spec", {}).get("consent", {}).get("expiresAt")
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


async def reconcile_dataset(
    op: Operator, dataset: dict[str, Any]
) -> tuple[Result, datetime.datetime | None]:
    now = op.clock()
    meta = dataset["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    generation = int(meta.get("generation", 1))
    config_map = await op.io(op.kube.get_config_map, namespace, manifest_config_map(name))
    ready, reason, message, fields = check_manifest(dataset, config_map)
    expires = consent_expiry(dataset)
    events: list[Event] = []
    if expires is not None and expires <= now:
        ready, reason, message = (
            False,
            reasons.DATASET_CONSENT_EXPIRED,
            f"consent expired at {expires.isoformat()}",
        )
        why = GrantPhase("Expired", reasons.CONSENT_EXPIRED, message, None)
        stopped = await stop_jobs_using(op, namespace, name, None, why)
        if stopped:
            events.append(
                Event(
                    "Warning", reasons.CONSENT_EXPIRED, f"stopped {stopped} running TrainingJob(s)"
                )
            )
    status = dict(dataset.get("status") or {})
    status.update(fields)
    status["phase"] = (
        "Ready"
        if ready
        else ("Expired" if reason == reasons.DATASET_CONSENT_EXPIRED else "NotReady")
    )
    status["observedGeneration"] = generation
    ledger = await op.io(op.ledger.read, namespace, name)
    last_swept = op.ledger_swept_at.get((namespace, name))
    if last_swept is None or now - last_swept >= SWEEP_INTERVAL:
        # Claimed before the sweep: the dataset's handler and its daemon run side by side.
        op.ledger_swept_at[(namespace, name)] = now
        try:
            swept = await sweep_vanished_jobs(op, namespace, name, ledger, now)
        except BaseException:
            op.ledger_swept_at.pop((namespace, name), None)  # the next pass tries again
            raise
        if swept:
            ledger = await op.io(op.ledger.read, namespace, name)
    total = float(dataset["spec"]["privacy"]["budget"]["epsilon"])
    summary = ledgers.summary(ledger) if ledger else None
    status["budget"] = {
        "epsilonTotal": total,
        "epsilonSpent": summary["epsilonSpent"] if summary else 0.0,
        "epsilonReserved": summary["epsilonReserved"] if summary else 0.0,
        "epsilonRemaining": summary["epsilonRemaining"] if summary else total,
        "delta": float(dataset["spec"]["privacy"]["budget"]["delta"]),
    }
    metrics.BUDGET_REMAINING.labels(namespace=namespace, dataset=name).set(
        status["budget"]["epsilonRemaining"]
    )
    grants = await op.io(op.kube.list, "DataGrant", namespace)
    status["activeGrants"] = sum(
        1 for g in grants if g["spec"]["datasetRef"]["name"] == name and grant_phase(g, now).valid
    )
    status["conditions"] = set_condition(
        status.get("conditions", []),
        "Ready",
        ready,
        reason,
        message,
        generation=generation,
        now=now,
    )
    next_change = expires if expires is not None and expires > now else None
    return Result(status, events), next_change
