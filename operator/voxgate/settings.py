"""What the operator is started with: one frozen value, read once from the environment.

The Helm chart sets the VOXGATE_* variables from its values; nothing here talks to the cluster.
Bad values raise SettingsError with one line naming the variable, so a misconfigured release
fails at start-up with a readable message instead of admitting jobs it cannot run.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

ENV_PREFIX = "VOXGATE_"
DEFAULT_NAMESPACE = "voxgate-system"
# Placeholder only: the chart value `image` (repository@digest of the release being installed)
# replaces it through VOXGATE_IMAGE. The all-zero digest never pulls, so a forgotten value fails
# visibly at the first unseal instead of running some other image.
DEFAULT_IMAGE = "registry.example.org/voxgate/voxgate@sha256:" + "0" * 64
DEFAULT_BROKER_PORT = 8443
# OPA runs as a sidecar of the operator pod.
DEFAULT_OPA_URL = "http://127.0.0.1:8181"
# Same as voxgate.policy.client.DEFAULT_TIMEOUT_SECONDS (not imported: that pulls in aiohttp).
DEFAULT_POLICY_TIMEOUT_SECONDS = 2.0
DEFAULT_AUDIT_PATH = Path("/var/lib/voxgate/audit/audit.jsonl")
DEFAULT_PLAINTEXT_SIZE_LIMIT = "8Gi"
DEFAULT_WEBHOOK_PORT = 9443
DEFAULT_WEBHOOK_ADDRESS = "0.0.0.0"  # noqa: S104 - the API server reaches the pod over its IP
# Members of this group may approve and revoke DataGrants (the admission webhook enforces it).
DEFAULT_STEWARD_GROUP = "voxgate-stewards"

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# Same rule as TrainingJob.spec.image: a reference pinned by digest.
_PINNED_IMAGE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]*@sha256:[a-f0-9]{64}$")
# Kubernetes resource.Quantity, as the CRDs spell it.
_QUANTITY = re.compile(
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))"
    r"(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)


class SettingsError(ValueError):
    """An operator setting is missing or malformed; the message names it in one line."""


@dataclass(frozen=True)
class OperatorSettings:
    namespace: str = DEFAULT_NAMESPACE
    image: str = DEFAULT_IMAGE
    # Empty means the broker Service in `namespace`: https://voxgate-broker.<namespace>.svc:<port>.
    broker_url: str = ""
    broker_port: int = DEFAULT_BROKER_PORT
    opa_url: str = DEFAULT_OPA_URL
    policy_timeout_seconds: float = DEFAULT_POLICY_TIMEOUT_SECONDS
    audit_path: Path = DEFAULT_AUDIT_PATH
    plaintext_size_limit: str = DEFAULT_PLAINTEXT_SIZE_LIMIT
    # The key broker is served only when both files are set (the chart mounts them).
    broker_cert_file: Path | None = None
    broker_key_file: Path | None = None
    # The CA that signed the broker's certificate (the file, and its PEM, which the process
    # reads at start-up with with_broker_ca()): it travels to each job in its ConfigMap so the
    # unseal step can verify the broker (empty: the unseal image's trust store decides).
    broker_ca_file: Path | None = None
    broker_ca_pem: str = ""
    # The admission webhooks are served only when both files are set (the chart mounts them).
    webhook_cert_file: Path | None = None
    webhook_key_file: Path | None = None
    webhook_port: int = DEFAULT_WEBHOOK_PORT
    webhook_address: str = DEFAULT_WEBHOOK_ADDRESS
    steward_group: str = DEFAULT_STEWARD_GROUP

    def __post_init__(self) -> None:
        if not _DNS_LABEL.match(self.namespace) or len(self.namespace) > 63:
            raise SettingsError(f"namespace must be a DNS label, got {self.namespace!r}")
        if not _PINNED_IMAGE.match(self.image):
            raise SettingsError(
                f"image must be pinned by digest (...@sha256:<64 hex>), got {self.image!r}"
            )
        if isinstance(self.broker_port, bool) or not 1 <= self.broker_port <= 65535:
            raise SettingsError(f"broker_port must be 1..65535, got {self.broker_port!r}")
        if not self.broker_url:
            default = f"https://voxgate-broker.{self.namespace}.svc:{self.broker_port}"
            object.__setattr__(self, "broker_url", default)
        _check_url("broker_url", self.broker_url, schemes=("https",))
        _check_url("opa_url", self.opa_url, schemes=("http", "https"))
        if not (math.isfinite(self.policy_timeout_seconds) and self.policy_timeout_seconds > 0):
            timeout = self.policy_timeout_seconds
            raise SettingsError(
                f"policy_timeout_seconds must be a finite number > 0, got {timeout!r}"
            )
        if not _QUANTITY.match(self.plaintext_size_limit):
            raise SettingsError(
                f"plaintext_size_limit must be a quantity such as 8Gi, "
                f"got {self.plaintext_size_limit!r}"
            )
        self._check_webhook()
        self._check_broker()

    def _check_broker(self) -> None:
        if (self.broker_cert_file is None) != (self.broker_key_file is None):
            missing = "broker_key_file" if self.broker_key_file is None else "broker_cert_file"
            raise SettingsError(f"{missing} must be set too when the other broker file is set")

    def with_broker_ca(self) -> OperatorSettings:
        """These settings with the broker CA's PEM read from broker_ca_file."""
        if self.broker_ca_file is None:
            return self
        try:
            pem = self.broker_ca_file.read_text()
        except OSError as error:
            raise SettingsError(
                f"broker_ca_file: cannot read {self.broker_ca_file} ({error.strerror})"
            ) from None
        return dataclasses.replace(self, broker_ca_pem=pem)

    @property
    def broker_enabled(self) -> bool:
        return self.broker_cert_file is not None and self.broker_key_file is not None

    def _check_webhook(self) -> None:
        if (self.webhook_cert_file is None) != (self.webhook_key_file is None):
            missing = "webhook_key_file" if self.webhook_key_file is None else "webhook_cert_file"
            raise SettingsError(f"{missing} must be set too when the other webhook file is set")
        if isinstance(self.webhook_port, bool) or not 1 <= self.webhook_port <= 65535:
            raise SettingsError(f"webhook_port must be 1..65535, got {self.webhook_port!r}")
        if not self.webhook_address or any(c.isspace() for c in self.webhook_address):
            raise SettingsError(
                f"webhook_address must be an IP address or host name, got {self.webhook_address!r}"
            )
        if not self.steward_group.strip():
            raise SettingsError("steward_group must not be empty")

    @property
    def webhooks_enabled(self) -> bool:
        return self.webhook_cert_file is not None and self.webhook_key_file is not None

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> OperatorSettings:
        """Read VOXGATE_<FIELD> for every field; unset or empty variables keep the default."""

        def text(name: str, default: str) -> str:
            return environ.get(ENV_PREFIX + name) or default

        port = text("BROKER_PORT", str(DEFAULT_BROKER_PORT))
        timeout = text("POLICY_TIMEOUT_SECONDS", str(DEFAULT_POLICY_TIMEOUT_SECONDS))
        webhook_port = text("WEBHOOK_PORT", str(DEFAULT_WEBHOOK_PORT))
        cert_file, key_file = text("WEBHOOK_CERT_FILE", ""), text("WEBHOOK_KEY_FILE", "")
        broker_cert, broker_key = text("BROKER_CERT_FILE", ""), text("BROKER_KEY_FILE", "")
        broker_ca_file = text("BROKER_CA_FILE", "")
        try:
            return cls(
                namespace=text("NAMESPACE", DEFAULT_NAMESPACE),
                image=text("IMAGE", DEFAULT_IMAGE),
                broker_url=text("BROKER_URL", ""),
                broker_port=_integer("broker_port", port),
                opa_url=text("OPA_URL", DEFAULT_OPA_URL),
                policy_timeout_seconds=_number("policy_timeout_seconds", timeout),
                audit_path=Path(text("AUDIT_PATH", str(DEFAULT_AUDIT_PATH))),
                plaintext_size_limit=text("PLAINTEXT_SIZE_LIMIT", DEFAULT_PLAINTEXT_SIZE_LIMIT),
                broker_cert_file=Path(broker_cert) if broker_cert else None,
                broker_key_file=Path(broker_key) if broker_key else None,
                broker_ca_file=Path(broker_ca_file) if broker_ca_file else None,
                webhook_cert_file=Path(cert_file) if cert_file else None,
                webhook_key_file=Path(key_file) if key_file else None,
                webhook_port=_integer("webhook_port", webhook_port),
                webhook_address=text("WEBHOOK_ADDRESS", DEFAULT_WEBHOOK_ADDRESS),
                steward_group=text("STEWARD_GROUP", DEFAULT_STEWARD_GROUP),
            )
        except SettingsError as error:
            # Every message starts with the field's name; show the variable the user sets.
            field_name, rest = str(error).split(" ", 1)
            raise SettingsError(f"{ENV_PREFIX}{field_name.upper()} {rest}") from None


def _integer(name: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {text!r}") from None


def _number(name: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {text!r}") from None


def _check_url(name: str, url: str, *, schemes: tuple[str, ...]) -> None:
    parts = urlsplit(url)
    if parts.scheme not in schemes or not parts.hostname:
        wanted = " or ".join(f"{s}://" for s in schemes)
        raise SettingsError(f"{name} must be a {wanted}host[:port] URL, got {url!r}")
