"""The job's NetworkPolicy: deny everything in and out except what the workload needs.

Allowed: the job's own workers (both ways, for collective communication), DNS, the key broker,
and the CIDR endpoints of an allowList egress obligation. A NetworkPolicy cannot name a host, so
host endpoints stay blocked and are returned as unsupported for the reconciler to report: failing
closed is the safe side for sensitive data.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any

from voxgate.builders.names import APP_NAME_LABEL, OPERATOR_APP_NAME
from voxgate.builders.plan import WorkloadPlan
from voxgate.policy.decision import Egress

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
DNS_NAMESPACE = "kube-system"
DNS_POD_LABELS = {"k8s-app": "kube-dns"}
DNS_PORT = 53
_ENDPOINT = re.compile(
    r"^(?:\[(?P<bracketed>[^\[\]]+)\]|(?P<address>[^\[\]]+)):(?P<port>[0-9]{1,5})$"
)


@dataclass(frozen=True)
class CidrEndpoint:
    cidr: str
    port: int


@dataclass(frozen=True)
class EgressAllowList:
    endpoints: tuple[CidrEndpoint, ...]  # enforceable, in policy order, without duplicates
    unsupported: tuple[str, ...]  # host names (and malformed entries): these stay blocked


def parse_cidr_endpoint(endpoint: str) -> CidrEndpoint | None:
    """`CIDR:port`, `IP:port` or `[IPv6]:port` as a CidrEndpoint; None for a host name."""
    match = _ENDPOINT.match(endpoint)
    if not match:
        return None
    port = int(match["port"])
    if not 1 <= port <= 65535:
        return None
    try:
        # strict=False: 10.1.2.3/8 means 10.0.0.0/8; a bare address is a /32 (or /128).
        network = ipaddress.ip_network(match["bracketed"] or match["address"], strict=False)
    except ValueError:
        return None
    return CidrEndpoint(str(network), port)


def egress_allow_list(egress: Egress) -> EgressAllowList:
    if egress.mode != "allowList":
        return EgressAllowList((), ())
    endpoints: list[CidrEndpoint] = []
    unsupported: list[str] = []
    for text in egress.endpoints:
        endpoint = parse_cidr_endpoint(text)
        if endpoint is None:
            if text not in unsupported:
                unsupported.append(text)
        elif endpoint not in endpoints:
            endpoints.append(endpoint)
    return EgressAllowList(tuple(endpoints), tuple(unsupported))


def _pods_in(namespace: str, labels: dict[str, str]) -> dict[str, Any]:
    return {
        "namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: namespace}},
        "podSelector": {"matchLabels": dict(labels)},
    }


def egress_rules(plan: WorkloadPlan, allow_list: EgressAllowList) -> list[dict[str, Any]]:
    own_workers = {"podSelector": {"matchLabels": plan.selector}}
    broker = _pods_in(plan.settings.namespace, {APP_NAME_LABEL: OPERATOR_APP_NAME})
    rules: list[dict[str, Any]] = [
        {"to": [own_workers]},
        {
            "to": [_pods_in(DNS_NAMESPACE, DNS_POD_LABELS)],
            "ports": [
                {"protocol": "UDP", "port": DNS_PORT},
                {"protocol": "TCP", "port": DNS_PORT},
            ],
        },
        # The pod port the broker listens on (a NetworkPolicy sees pods, not the Service port).
        {"to": [broker], "ports": [{"protocol": "TCP", "port": plan.settings.broker_port}]},
    ]
    rules.extend(
        {"to": [{"ipBlock": {"cidr": e.cidr}}], "ports": [{"protocol": "TCP", "port": e.port}]}
        for e in allow_list.endpoints
    )
    return rules


def build_network_policy(plan: WorkloadPlan) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The NetworkPolicy, and the egress endpoints it could not allow (host names)."""
    allow_list = egress_allow_list(plan.decision.obligations.egress)
    policy = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": plan.metadata(plan.names.network_policy),
        "spec": {
            "podSelector": {"matchLabels": plan.selector},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [{"from": [{"podSelector": {"matchLabels": plan.selector}}]}],
            "egress": egress_rules(plan, allow_list),
        },
    }
    return policy, allow_list.unsupported
