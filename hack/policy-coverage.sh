#!/usr/bin/env bash
# Runs the Rego tests under policies/ with coverage and fails when a test fails or when line
# coverage of the policy files (the *_test.rego files themselves are not counted) is below the
# minimum. Prints the policy files below the minimum with their uncovered lines.
#
# usage: hack/policy-coverage.sh [MIN_PERCENT]     (default 90; env OPA overrides bin/opa)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
opa=${OPA:-$root/bin/opa}
min=${1:-90}
report=$(mktemp)
trap 'rm -f "$report"' EXIT

cd "$root"
if ! "$opa" test --coverage --format json policies/ >"$report"; then
  echo "policy-coverage: tests failed; run: $opa test policies/ --verbose" >&2
  exit 1
fi

python3 - "$report" "$min" <<'PY'
import json
import sys

report_path, minimum = sys.argv[1], float(sys.argv[2])
with open(report_path) as f:
    files = json.load(f)["files"]

covered = uncovered = 0
short = []
for name, result in sorted(files.items()):
    if name.endswith("_test.rego"):
        continue
    file_covered = result.get("covered_lines", 0)
    file_uncovered = result.get("not_covered_lines", 0)
    covered += file_covered
    uncovered += file_uncovered
    total = file_covered + file_uncovered
    percent = 100.0 * file_covered / total if total else 100.0
    if percent < minimum:
        rows = sorted(
            {row for span in result.get("not_covered", []) for row in range(span["start"]["row"], span["end"]["row"] + 1)}
        )
        short.append(f"  {name}: {percent:.1f}% (uncovered lines {', '.join(map(str, rows))})")

total = covered + uncovered
percent = 100.0 * covered / total if total else 0.0
print(f"policy-coverage: {percent:.2f}% of {total} policy lines covered (minimum {minimum:g}%)")
if short:
    print("files below the minimum:")
    print("\n".join(short))
sys.exit(0 if percent >= minimum else 1)
PY
