"""`voxgate dev demo` end to end: the chart installed, the operator acting as the chart's
ServiceAccount, and every example TrainingJob in the printed table with the decision its
`# voxgate-expect:` comment promises.

The demo starts its own control plane (in a temporary state directory), as `make demo` does.
The expectations are read from examples/ here, independently of the demo's own parser, and the
operator's identity from the API server's audit log, which records who really authenticated.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from voxgate.audit.verify import verify_file
from voxgate.devcluster import demo

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
OPERATOR = "system:serviceaccount:voxgate-system:voxgate"
ROW = re.compile(r"^(team-\S+)\s+(\S+)\s+(Admitted|Denied|Pending|\S+)\s+(\S+)\s+(.*)$")
REASON = re.compile(r"^\s+([A-Z][A-Za-z]+): ")


def promised() -> dict[tuple[str, str], tuple[str, set[str]]]:
    """(namespace, name) -> (phase, codes) for every job under examples/jobs/."""
    jobs: dict[tuple[str, str], tuple[str, set[str]]] = {}
    for path in sorted((REPO / "examples" / "jobs").glob("*.yaml")):
        text = path.read_text()
        line = next(x for x in text.splitlines() if x.startswith("# voxgate-expect:"))
        words = line.split(":", 1)[1].split()
        doc = next(d for d in yaml.safe_load_all(text) if d and d.get("kind") == "TrainingJob")
        key = (doc["metadata"]["namespace"], doc["metadata"]["name"])
        if words[0] == "admit":
            jobs[key] = ("Admitted", set())
        else:
            jobs[key] = ("Denied", set(words[1].split(",")))
    return jobs


def printed_table(out: str) -> dict[tuple[str, str], tuple[str, set[str]]]:
    """The decisions table as printed: each row's decision and the codes of its reasons."""
    lines = out.splitlines()
    start = next(i for i, x in enumerate(lines) if x.startswith("NAMESPACE") and "DECISION" in x)
    rows: dict[tuple[str, str], tuple[str, set[str]]] = {}
    current: tuple[str, str] | None = None
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        if match := ROW.match(line):
            namespace, name, phase, _epsilon, reason = match.groups()
            current = (namespace, name)
            codes = {reason.split(":", 1)[0]} if reason != "-" else set()
            rows[current] = (phase, codes)
        elif (match := REASON.match(line)) and current is not None:
            rows[current][1].add(match.group(1))
    return rows


def api_audit(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def test_the_demo_installs_the_chart_and_every_job_gets_its_promised_decision(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Wide enough that no reason is wrapped onto a second line.
    monkeypatch.setenv("COLUMNS", "2000")
    state = tmp_path / "dev"

    code = demo.run(state, keep=False)
    out = capsys.readouterr().out

    assert code == 0, out
    expected = promised()
    assert len(expected) == 25
    assert printed_table(out) == expected, out
    assert "25 of 25 as their `# voxgate-expect:` comment says" in out

    # The webhooks the chart configures refused a researcher's job at create time, with both
    # reasons and the decision id.
    refusal = out.split("a researcher tries again:", 1)[1].split("the API server's audit", 1)[0]
    assert 'admission webhook "validate-trainingjob.voxgate.io" denied the request' in refusal
    assert "DPRequired" in refusal and "RegistryNotApproved" in refusal
    assert re.search(r"decision [0-9a-f]{32}", refusal)

    # Who wrote the decisions: only the chart's ServiceAccount, never the admin, never refused.
    events = api_audit(state / "logs" / "kube-apiserver-audit.log")
    status_writers = {
        e["user"]["username"]
        for e in events
        if e.get("objectRef", {}).get("resource") == "trainingjobs"
        and e.get("objectRef", {}).get("subresource") == "status"
        and e["verb"] in ("patch", "update")
    }
    assert status_writers == {OPERATOR}
    by_operator = [e for e in events if e["user"]["username"] == OPERATOR]
    jobs = [e for e in by_operator if e.get("objectRef", {}).get("resource") == "jobs"]
    assert len([e for e in jobs if e["responseStatus"]["code"] in (200, 201)]) >= 5
    assert [e for e in by_operator if e["responseStatus"]["code"] == 403] == []
    assert f"{OPERATOR} made " in out and "was refused 0" in out

    # voxgate's own trail: printed where it is, and intact.
    trail = state / "release" / "audit" / "audit.jsonl"
    assert str(trail) in out
    verified = verify_file(trail)
    assert verified.intact and verified.records >= 25
