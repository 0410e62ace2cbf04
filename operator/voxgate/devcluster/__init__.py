"""A local Kubernetes control plane (etcd, kube-apiserver, optionally kube-controller-manager).

Used by `voxgate dev up` and by the integration-test fixtures, the way controller-runtime's envtest
starts real API servers for tests: real processes on loopback, no Docker, no cluster.
"""

from voxgate.devcluster import pki
from voxgate.devcluster.binaries import BinaryNotFound, resolve_binary
from voxgate.devcluster.controlplane import ControlPlane, ControlPlaneError, UserCredentials

__all__ = [
    "BinaryNotFound",
    "ControlPlane",
    "ControlPlaneError",
    "UserCredentials",
    "pki",
    "resolve_binary",
]
