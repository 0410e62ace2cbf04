"""Where `voxgate budget` gets its ledger: the ConfigMap, or the dataset's budget if none yet.

Every failure a user can fix (no kubeconfig, no such dataset, not allowed, server unreachable,
a damaged ledger) becomes a one-line UsageError.
"""

from __future__ import annotations

from typing import Any

import urllib3
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from voxgate import API_GROUP, API_VERSION
from voxgate.cli.errors import UsageError
from voxgate.cli.kubeconfig import api_client
from voxgate.privacy.ledger import Budget, Ledger, LedgerError, new_ledger
from voxgate.privacy.store import LedgerStore, configmap_name

HTTP_FORBIDDEN = 403
HTTP_NOT_FOUND = 404


def _ledger_from_dataset(api: client.ApiClient, namespace: str, dataset: str) -> Ledger:
    objects = client.CustomObjectsApi(api)
    resource: Any = objects.get_namespaced_custom_object(
        API_GROUP, API_VERSION, namespace, "speechdatasets", dataset
    )
    try:
        spec_budget = resource["spec"]["privacy"]["budget"]
        budget = Budget(epsilon=spec_budget["epsilon"], delta=spec_budget["delta"])
    except (KeyError, TypeError):
        raise UsageError(
            f"SpeechDataset {namespace}/{dataset} has no spec.privacy.budget"
        ) from None
    return new_ledger(namespace, dataset, budget)


def load_ledger(namespace: str, dataset: str, kubeconfig: str | None) -> Ledger:
    api = api_client(kubeconfig)
    try:
        ledger = LedgerStore.from_api_client(api).read(namespace, dataset)
        return ledger if ledger is not None else _ledger_from_dataset(api, namespace, dataset)
    except ApiException as error:
        if error.status == HTTP_NOT_FOUND:
            raise UsageError(
                f"no SpeechDataset {namespace}/{dataset} and no ledger "
                f"(ConfigMap {configmap_name(dataset)}) for it"
            ) from None
        if error.status == HTTP_FORBIDDEN:
            raise UsageError(
                f"not allowed to read the ledger of {namespace}/{dataset} "
                f"(needs get on configmaps and speechdatasets in {namespace})"
            ) from None
        raise UsageError(f"API server answered {error.status} {error.reason}") from None
    except urllib3.exceptions.HTTPError as error:
        raise UsageError(f"cannot reach the API server: {type(error).__name__}") from None
    except LedgerError as error:
        raise UsageError(str(error)) from None
    finally:
        api.close()
