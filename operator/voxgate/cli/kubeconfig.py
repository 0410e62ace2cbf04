"""The API client a command uses: --kubeconfig, else $KUBECONFIG or ~/.kube/config, else the
pod's ServiceAccount; a missing or broken kubeconfig is a one-line usage error."""

from __future__ import annotations

from kubernetes import client, config
from kubernetes.config.config_exception import ConfigException

from voxgate.cli.errors import UsageError


def api_client(kubeconfig: str | None) -> client.ApiClient:
    try:
        api: client.ApiClient = config.new_client_from_config(
            config_file=kubeconfig, persist_config=False
        )
        return api
    except (ConfigException, OSError) as error:
        if kubeconfig is None:
            try:
                config.load_incluster_config()
            except ConfigException:
                raise UsageError(
                    "no kubeconfig found: pass --kubeconfig or set KUBECONFIG"
                ) from None
            return client.ApiClient()
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error)
        raise UsageError(f"cannot load kubeconfig {kubeconfig}: {first_line}") from None
