"""How `voxgate budget` shows a ledger: a readable table, or JSON for scripts. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from voxgate.privacy import ledger_json
from voxgate.privacy.ledger import Ledger, LedgerEntry, summary


def _eps(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _time(value: datetime | None) -> str:
    return "-" if value is None else value.strftime("%Y-%m-%d %H:%M:%SZ")


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]


def _last_change(entry: LedgerEntry) -> datetime:
    return entry.released_at or entry.settled_at or entry.charged_at or entry.reserved_at


def render_budget(ledger: Ledger) -> str:
    totals = summary(ledger)
    lines = [
        f"SpeechDataset {ledger.dataset}  (delta {totals['delta']:g}, runs composed with RDP)",
        f"  total      {_eps(totals['epsilonTotal'])}",
        f"  spent      {_eps(totals['epsilonSpent'])}"
        f"   (plain sum of the runs' own epsilons: {_eps(totals['epsilonSpentSum'])})",
        f"  reserved   {_eps(totals['epsilonReserved'])}",
        f"  remaining  {_eps(totals['epsilonRemaining'])}",
    ]
    if totals["grants"]:
        grant_rows = [
            [
                name,
                _eps(grant["epsilonAllowance"]),
                _eps(grant["epsilonUsed"]),
                _eps(grant["epsilonReserved"]),
                _eps(grant["epsilonRemaining"]),
            ]
            for name, grant in totals["grants"].items()
        ]
        lines += ["", *_table(["GRANT", "ALLOWANCE", "USED", "RESERVED", "REMAINING"], grant_rows)]
    job_rows = [
        [
            entry.job,
            entry.grant,
            str(entry.state),
            _eps(entry.epsilon),
            f"{entry.params.noise_multiplier:g}",
            f"{entry.params.sample_rate:g}",
            str(entry.params.steps),
            entry.params.accountant,
            _time(entry.reserved_at),
            _time(_last_change(entry)),
        ]
        for entry in sorted(ledger.entries, key=lambda entry: entry.reserved_at)
    ]
    header = [
        "JOB",
        "GRANT",
        "STATE",
        "EPSILON",
        "NOISE",
        "RATE",
        "STEPS",
        "ACCOUNTANT",
        "RESERVED",
        "LAST CHANGE",
    ]
    if job_rows:
        lines += ["", *_table(header, job_rows)]
    else:
        lines += ["", "no runs in the ledger"]
    folded_settled = len(ledger.compacted.settled_uids)
    folded_released = len(ledger.compacted.released_uids)
    if folded_settled or folded_released:
        lines.append(
            f"{folded_settled + folded_released} earlier runs compacted "
            f"({folded_settled} settled, {folded_released} released); their cost is in the totals"
        )
    return "\n".join(lines) + "\n"


def budget_document(ledger: Ledger) -> dict[str, Any]:
    document = ledger_json.to_document(ledger)
    return {
        "dataset": document["dataset"],
        "summary": summary(ledger),
        "entries": [{"uid": uid, **entry} for uid, entry in document["entries"].items()],
        "compacted": document["compacted"],
    }
