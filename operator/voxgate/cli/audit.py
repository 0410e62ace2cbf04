"""`voxgate audit`: verify a trail file (optionally against its anchor) and show its records.

Each operator replica keeps its own trail and its own anchor: `--anchor-replica NAMESPACE/POD`
checks a trail against the anchor of the replica (pod) that wrote it, `--anchor-configmap` against
any anchor ConfigMap by name.

Exit codes of `verify`: 0 intact, 1 broken (the first broken record is named in one line),
2 usage errors (no such file, bad arguments, the anchor cannot be read).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from voxgate.audit.anchor import DEFAULT_ANCHOR_NAME, AnchorStore, StoredAnchor, anchor_name
from voxgate.audit.errors import AuditError
from voxgate.audit.record import AuditRecord
from voxgate.audit.verify import ChainWalk, verify_file
from voxgate.cli.errors import UsageError
from voxgate.cli.kubeconfig import api_client

DETAILS_WIDTH = 60


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("audit", help="verify and read audit trails")
    commands = parser.add_subparsers(dest="audit_command", metavar="ACTION", required=True)

    verify = commands.add_parser(
        "verify",
        help="check every digest, prev link and seq of a trail file",
        description="Exit 0 if the chain is intact, 1 if it is broken (the first broken record "
        "is named), 2 on usage errors. With an anchor (--anchor-replica or --anchor-configmap) "
        "the anchored record must be in the file too, which detects records cut off its end.",
    )
    verify.add_argument("file", metavar="FILE", help="the audit trail (JSON lines)")
    anchor = verify.add_mutually_exclusive_group()
    anchor.add_argument(
        "--anchor-replica",
        metavar="NAMESPACE/POD",
        help="the anchor of the operator replica (pod) that wrote FILE: ConfigMap "
        f"NAMESPACE/{DEFAULT_ANCHOR_NAME}-POD",
    )
    anchor.add_argument(
        "--anchor-configmap",
        metavar="NAMESPACE/NAME",
        help="an anchor ConfigMap by name (a process run without a pod name uses "
        f"NAMESPACE/{DEFAULT_ANCHOR_NAME})",
    )
    verify.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, ~/.kube)")
    verify.set_defaults(handler=handle_verify)

    show = commands.add_parser(
        "show",
        help="print a trail's records as a table",
        description="Records are verified as they are read; a broken chain stops the table "
        "at the break (exit 1).",
    )
    show.add_argument("file", metavar="FILE", help="the audit trail (JSON lines)")
    show.add_argument("--subject", metavar="NAMESPACE/NAME", help="only records about this object")
    show.add_argument(
        "--event",
        action="append",
        default=[],
        metavar="EVENT",
        help="only these events (repeatable); 'ledger.*' or 'ledger' selects a family",
    )
    show.set_defaults(handler=handle_show)


def handle_verify(args: argparse.Namespace) -> int:
    path = _trail_file(args.file)
    if args.kubeconfig and not (args.anchor_configmap or args.anchor_replica):
        raise UsageError("--kubeconfig is only used with --anchor-replica or --anchor-configmap")
    anchor: StoredAnchor | None = None
    where = ""
    if args.anchor_replica:
        namespace, pod = _namespaced(args.anchor_replica, "--anchor-replica", "NAMESPACE/POD")
        try:
            name = anchor_name(pod)
        except AuditError as error:
            raise UsageError(str(error)) from None
        anchor, where = _read_anchor(namespace, name, args.kubeconfig, replica=pod)
    elif args.anchor_configmap:
        namespace, name = _namespaced(args.anchor_configmap, "--anchor-configmap")
        anchor, where = _read_anchor(namespace, name, args.kubeconfig)
    try:
        result = verify_file(path, anchor.head if anchor else None)
    except AuditError as error:
        raise UsageError(str(error)) from None
    if result.problem is not None:
        print(f"{path}: BROKEN at {result.problem}")
        return 1
    print(
        f"{path}: intact, {result.records} records, head seq {result.head.seq} {result.head.digest}"
    )
    if anchor is not None:
        print(f"anchor {where}: seq {anchor.seq} ({anchor.time}) is in the file")
    return 0


def handle_show(args: argparse.Namespace) -> int:
    path = _trail_file(args.file)
    subject = _namespaced(args.subject, "--subject") if args.subject else None
    rows: list[tuple[str, ...]] = [("SEQ", "TIME", "EVENT", "ACTOR", "SUBJECT", "DETAILS")]
    try:
        with path.open("rb") as lines:
            walk = ChainWalk(lines)
            rows += [_row(record) for _, record in walk if _selected(record, subject, args.event)]
    except OSError as error:
        raise UsageError(f"cannot read audit trail {path}: {error.strerror}") from None
    _print_table(rows)
    if walk.problem is not None:
        print(
            f"voxgate: {path} is BROKEN at {walk.problem}; later records are not shown",
            file=sys.stderr,
        )
        return 1
    return 0


def _selected(record: AuditRecord, subject: tuple[str, str] | None, events: list[str]) -> bool:
    if subject is not None and (record.subject.namespace, record.subject.name) != subject:
        return False
    if not events:
        return True
    return any(
        record.event == event or record.event.startswith(event.removesuffix("*").rstrip(".") + ".")
        for event in events
    )


def _row(record: AuditRecord) -> tuple[str, ...]:
    subject = record.subject
    where = f"{subject.namespace}/{subject.name}" if subject.namespace else subject.name
    return (
        str(record.seq),
        record.time[:19] + "Z",
        record.event,
        record.actor,
        f"{subject.kind} {where}",
        _details_text(record.details),
    )


def _details_text(details: Mapping[str, Any]) -> str:
    parts = []
    for key, value in sorted(details.items()):
        text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
        parts.append(f"{key}={text}")
    joined = " ".join(parts)
    return joined if len(joined) <= DETAILS_WIDTH else joined[: DETAILS_WIDTH - 3] + "..."


def _print_table(rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        print("  ".join([*cells, row[-1]]).rstrip())


def _trail_file(text: str) -> Path:
    path = Path(text)
    if not path.is_file():
        raise UsageError(f"no audit trail file {path}")
    return path


def _namespaced(text: str, option: str, shape: str = "NAMESPACE/NAME") -> tuple[str, str]:
    namespace, _, name = text.partition("/")
    if not namespace or not name or "/" in name:
        raise UsageError(f"{option} must be {shape}, not {text!r}")
    return namespace, name


def _read_anchor(
    namespace: str, name: str, kubeconfig: str | None, *, replica: str = ""
) -> tuple[StoredAnchor, str]:
    api = api_client(kubeconfig)
    store = AnchorStore(api, namespace, name, replica=replica)
    try:
        anchor = store.read()
    except AuditError as error:
        raise UsageError(str(error)) from None
    finally:
        api.close()
    if anchor is None:
        raise UsageError(f"no anchor {store.where} (nothing anchored yet?)")
    return anchor, store.where
