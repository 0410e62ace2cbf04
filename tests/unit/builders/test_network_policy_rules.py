"""The job's NetworkPolicy: default deny; its own workers, DNS, the broker and allowed CIDRs."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pytest

from voxgate.builders import build_children, egress_allow_list
from voxgate.builders.network import CidrEndpoint, parse_cidr_endpoint
from voxgate.policy.decision import Egress

if TYPE_CHECKING:
    from tests.unit.builders.conftest import Inputs

JOB = "asr-callcentre-dp"
OWN_WORKERS = {"podSelector": {"matchLabels": {"voxgate.io/training-job": JOB}}}
BASE_EGRESS: list[dict[str, Any]] = [
    {"to": [OWN_WORKERS]},
    {
        "to": [
            {
                "namespaceSelector": {
                    "matchLabels": {"kubernetes.io/metadata.name": "kube-system"}
                },
                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
            }
        ],
        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
    },
    {
        "to": [
            {
                "namespaceSelector": {
                    "matchLabels": {"kubernetes.io/metadata.name": "voxgate-system"}
                },
                "podSelector": {"matchLabels": {"app.kubernetes.io/name": "voxgate"}},
            }
        ],
        "ports": [{"protocol": "TCP", "port": 8443}],
    },
]


def policy_for(inputs: Inputs, egress: Egress) -> tuple[dict[str, Any], tuple[str, ...]]:
    inputs.obligations = replace(inputs.obligations, egress=egress)
    children = build_children(inputs.plan())
    return children.network_policy, children.unsupported_egress


def test_deny_mode_allows_only_workers_dns_and_broker(inputs: Inputs) -> None:
    policy, unsupported = policy_for(inputs, Egress("deny"))
    assert policy["spec"] == {
        "podSelector": {"matchLabels": {"voxgate.io/training-job": JOB}},
        "policyTypes": ["Ingress", "Egress"],
        "ingress": [{"from": [OWN_WORKERS]}],
        "egress": BASE_EGRESS,
    }
    assert unsupported == ()


def test_allow_list_cidrs_become_ip_blocks_and_hosts_are_reported(inputs: Inputs) -> None:
    endpoints = (
        "mlflow.ml-platform.svc.cluster.local:5000",
        "10.20.0.0/16:443",
        "192.0.2.7:8080",
        "10.20.0.0/16:443",  # a duplicate is one rule
        "[2001:db8::1]:443",
        "2001:db8::/32:8443",
    )
    policy, unsupported = policy_for(inputs, Egress("allowList", endpoints))
    egress = policy["spec"]["egress"]
    assert egress[:3] == BASE_EGRESS
    assert egress[3:] == [
        {
            "to": [{"ipBlock": {"cidr": "10.20.0.0/16"}}],
            "ports": [{"protocol": "TCP", "port": 443}],
        },
        {
            "to": [{"ipBlock": {"cidr": "192.0.2.7/32"}}],
            "ports": [{"protocol": "TCP", "port": 8080}],
        },
        {
            "to": [{"ipBlock": {"cidr": "2001:db8::1/128"}}],
            "ports": [{"protocol": "TCP", "port": 443}],
        },
        {
            "to": [{"ipBlock": {"cidr": "2001:db8::/32"}}],
            "ports": [{"protocol": "TCP", "port": 8443}],
        },
    ]
    assert unsupported == ("mlflow.ml-platform.svc.cluster.local:5000",)
    # Ingress stays closed to everything but the job's own workers.
    assert policy["spec"]["ingress"] == [{"from": [OWN_WORKERS]}]


def test_allow_list_of_only_hosts_leaves_the_default_deny(inputs: Inputs) -> None:
    endpoints = ("mlflow.ml-platform.svc.cluster.local:5000", "artifacts.example:443")
    policy, unsupported = policy_for(inputs, Egress("allowList", endpoints))
    assert policy["spec"]["egress"] == BASE_EGRESS
    assert unsupported == endpoints


def test_endpoints_of_a_deny_mode_are_ignored() -> None:
    assert egress_allow_list(Egress("deny", ("10.0.0.0/8:443",))).endpoints == ()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10.0.0.0/8:443", CidrEndpoint("10.0.0.0/8", 443)),
        ("10.1.2.3/8:443", CidrEndpoint("10.0.0.0/8", 443)),  # host bits dropped
        ("0.0.0.0/0:53", CidrEndpoint("0.0.0.0/0", 53)),
        ("[fd00::/8]:1", CidrEndpoint("fd00::/8", 1)),
        ("10.0.0.1:65535", CidrEndpoint("10.0.0.1/32", 65535)),
        ("10.0.0.1:65536", None),  # no such port
        ("10.0.0.1:0", None),
        ("10.0.0.0/33:443", None),
        ("10.0.0.1", None),  # no port
        ("10.0.0.1:https", None),
        ("[10.0.0.1:443", None),
        ("host.example:443", None),
        ("", None),
    ],
)
def test_parse_cidr_endpoint(text: str, expected: CidrEndpoint | None) -> None:
    assert parse_cidr_endpoint(text) == expected


def test_malformed_entries_are_reported_not_allowed() -> None:
    allow_list = egress_allow_list(Egress("allowList", ("10.0.0.1:99999", "x:1", "x:1")))
    assert allow_list.endpoints == ()
    assert allow_list.unsupported == ("10.0.0.1:99999", "x:1")
