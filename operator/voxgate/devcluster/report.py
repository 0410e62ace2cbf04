"""The demo's tables: plain text, aligned columns, the last column wrapped to the terminal."""

from __future__ import annotations

import contextlib
import json
import shutil
import textwrap
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from voxgate.audit.verify import verify_file
from voxgate.devcluster.apiaudit import Writes
from voxgate.devcluster.examples import Expectation, Outcome

DECISION_ORDER = {"Admitted": 0, "Denied": 1}
# When stdout is no terminal (make, CI logs): wide enough for a reason's first clause.
DEFAULT_SIZE = (140, 24)
MIN_TEXT_WIDTH = 40


@dataclass(frozen=True)
class JobRow:
    namespace: str
    name: str
    phase: str
    epsilon: float | None
    denials: tuple[tuple[str, str], ...]
    expected: Expectation | None

    @property
    def as_expected(self) -> bool:
        if self.expected is None:
            return True
        # A code can come twice (a limit and a request both over a cap); the comment lists it once.
        codes = tuple(sorted({code for code, _ in self.denials}))
        return (self.phase, codes) == (self.expected.phase, self.expected.codes)


def terminal_width() -> int:
    return shutil.get_terminal_size(DEFAULT_SIZE).columns


def columns(rows: Sequence[tuple[str, ...]], width: int | None = None) -> list[str]:
    """Rows padded to aligned columns; the last column is wrapped to `width` (the terminal's)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    indent = sum(widths) + 2 * len(widths)
    room = max(MIN_TEXT_WIDTH, (width or terminal_width()) - indent)
    lines = []
    for row in rows:
        head = "".join(cell.ljust(widths[i]) + "  " for i, cell in enumerate(row[:-1]))
        text = textwrap.wrap(row[-1], room, break_on_hyphens=False) or [""]
        lines.append((head + text[0]).rstrip())
        lines += [" " * indent + more for more in text[1:]]
    return lines


def render_rejections(outcomes: list[Outcome], root: Path) -> str:
    accepted = Counter(o.example.kind for o in outcomes if o.accepted)
    lines = ["accepted by the API server: " + ", ".join(f"{n} {k}" for k, n in accepted.items())]
    rejected = [o for o in outcomes if not o.accepted]
    if rejected:
        lines.append(f"rejected by the API server (schema and CEL rules), {len(rejected)}:")
        rows = [("FILE", "KIND", "WHY")]
        rows += [
            (str(o.example.path.relative_to(root)), o.example.kind, o.message) for o in rejected
        ]
        lines += ["  " + line for line in columns(rows, terminal_width() - 2)]
    return "\n".join(lines)


def job_rows(jobs: list[dict[str, Any]], expected: Mapping[str, Expectation]) -> list[JobRow]:
    rows = []
    for job in jobs:
        meta, status = job["metadata"], job.get("status") or {}
        denials = (status.get("decision") or {}).get("denials") or []
        epsilon = (status.get("privacy") or {}).get("epsilon")
        rows.append(
            JobRow(
                namespace=meta["namespace"],
                name=meta["name"],
                phase=str(status.get("phase", "no status")),
                epsilon=float(epsilon) if isinstance(epsilon, int | float) else None,
                denials=tuple((str(d["code"]), str(d.get("message", ""))) for d in denials),
                expected=expected.get(f"{meta['namespace']}/{meta['name']}"),
            )
        )
    return sorted(rows, key=lambda r: (DECISION_ORDER.get(r.phase, 2), r.namespace, r.name))


def render_decisions(rows: list[JobRow]) -> str:
    """One line per job, and one more per further reason; a job that surprises is marked."""
    table: list[tuple[str, ...]] = [("NAMESPACE", "TRAININGJOB", "DECISION", "EPSILON", "REASONS")]
    for row in rows:
        epsilon = f"{row.epsilon:.3f}" if row.epsilon is not None else "-"
        reasons = [f"{code}: {message}" for code, message in row.denials] or ["-"]
        if not row.as_expected:
            reasons[0] += f"   <-- UNEXPECTED: examples/ says {row.expected}"
        table.append((row.namespace, row.name, row.phase, epsilon, reasons[0]))
        table += [("", "", "", "", reason) for reason in reasons[1:]]
    admitted = sum(r.phase == "Admitted" for r in rows)
    denied = sum(r.phase == "Denied" for r in rows)
    expected = sum(r.as_expected for r in rows)
    lines = columns(table)
    lines.append(
        f"\n{len(rows)} TrainingJobs: {admitted} admitted, {denied} denied, "
        f"{len(rows) - admitted - denied} undecided; "
        f"{expected} of {len(rows)} as their `# voxgate-expect:` comment says"
    )
    return "\n".join(lines)


def render_writes(writes: Writes, log: Path) -> str:
    """What the operator's identity wrote and was refused, per the API server's audit log."""
    allowed = sum(writes.allowed.values())
    refused = sum(writes.refused.values())
    rows: list[tuple[str, ...]] = [("", "")]
    rows += [("allowed", f"{request} x{n}") for request, n in sorted(writes.allowed.items())]
    rows += [("REFUSED", f"{request} x{n}") for request, n in sorted(writes.refused.items())]
    lines = [
        f"the API server's audit log ({log}):",
        f"  {writes.username} made {allowed} writes and was refused {refused}",
        *("    " + line for line in columns(rows[1:] or [("", "none")])),
    ]
    return "\n".join(lines)


def render_trail(path: Path) -> str:
    """Where voxgate's own audit trail is, whether its chain holds, and what it recorded."""
    result = verify_file(path)
    state = "intact" if result.intact else f"BROKEN at {result.problem}"
    events: Counter[str] = Counter()
    for line in path.read_text().splitlines():
        with contextlib.suppress(json.JSONDecodeError, AttributeError):
            events[str(json.loads(line).get("event"))] += 1
    recorded = ", ".join(f"{event} x{n}" for event, n in sorted(events.items()))
    return (
        f"voxgate's audit trail ({path}):\n"
        f"  {state}, {result.records} hash-chained records: {recorded}\n"
        f"  .venv/bin/voxgate audit verify {path}\n"
        f"  .venv/bin/voxgate audit show {path}"
    )
