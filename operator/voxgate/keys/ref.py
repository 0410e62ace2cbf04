"""Where a KEK lives, as users write it on the command line.

    file:PATH#NAME          KEK NAME in the JSON keyring at PATH
    secret:NAMESPACE/NAME   KEK NAME in Secret voxgate-kek-NAME of NAMESPACE

Without `#NAME` / `/NAME` the text names just the store (for `unseal --dek-source`, `keys list`).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from voxgate.keys.errors import KeyStoreError
from voxgate.keys.file_provider import FileProvider
from voxgate.keys.model import check_kek_id
from voxgate.keys.provider import KekProvider

_NAMESPACE = re.compile(r"^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?$")
REF_SYNTAX = "file:PATH#NAME or secret:NAMESPACE/NAME"


@dataclass(frozen=True)
class StoreRef:
    kind: Literal["file", "secret"]
    location: str  # keyring path or namespace


@dataclass(frozen=True)
class KekLocation:
    store: StoreRef
    kek_id: str | None


def parse_kek_ref(text: str, *, need_name: bool) -> KekLocation:
    kind, sep, rest = text.partition(":")
    if not sep or not rest:
        raise KeyStoreError(f"KEK reference {text!r} is not {REF_SYNTAX}")
    if kind == "file":
        path, hashmark, name = rest.rpartition("#") if "#" in rest else (rest, "", "")
        location = KekLocation(StoreRef("file", path), name or None)
        if hashmark and not name:
            raise KeyStoreError(f"KEK reference {text!r} has an empty name after '#'")
    elif kind == "secret":
        namespace, _, name = rest.partition("/")
        if not _NAMESPACE.fullmatch(namespace):
            raise KeyStoreError(f"KEK reference {text!r}: {namespace!r} is not a namespace name")
        location = KekLocation(StoreRef("secret", namespace), name or None)
    else:
        raise KeyStoreError(f"KEK reference {text!r}: unknown store {kind!r} ({REF_SYNTAX})")
    if location.kek_id is not None:
        check_kek_id(location.kek_id)
    elif need_name:
        raise KeyStoreError(f"KEK reference {text!r} names no KEK ({REF_SYNTAX})")
    return location


def open_store(store: StoreRef, api_client: Any | None = None) -> KekProvider:
    """The provider for a store; Secret stores use `api_client` or the ambient kubeconfig."""
    if store.kind == "file":
        return FileProvider(Path(store.location).expanduser())
    # Imported lazily: sealing with a file keyring should not pay for the Kubernetes client.
    from voxgate.keys.secret_provider import KubernetesSecretProvider  # noqa: PLC0415

    return KubernetesSecretProvider(api_client or kube_api_client(), store.location)


def kube_api_client() -> Any:
    """In a pod: its ServiceAccount; elsewhere: $KUBECONFIG or ~/.kube/config."""
    from kubernetes import client, config  # noqa: PLC0415 - see open_store

    try:
        if os.environ.get("KUBERNETES_SERVICE_HOST"):
            config.load_incluster_config()
        else:
            config.load_kube_config()
    except (config.ConfigException, OSError) as error:
        raise KeyStoreError(f"cannot reach Kubernetes: {error}".splitlines()[0]) from None
    return client.ApiClient()
