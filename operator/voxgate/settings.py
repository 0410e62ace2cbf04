"""What the operator is started with: one frozen value, read once from the environment.

The Helm chart sets the VOXGATE_* variables from its values, and POD_NAME (the replica's name,
through the downward API); nothing here talks to the cluster.
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
# TrainingJobs being admitted (decided, then their children applied) at once; the rest wait
# their turn before they are decided. See docs/architecture.md, "Under a burst".
DEFAULT_MAX_CONCURRENT_ADMISSIONS = 64
# kopf runs at most handlers.runtime.WORKER_LIMIT (256) passes at once: a higher limit would
# change nothing.
MAX_CONCURRENT_ADMISSIONS = 256
DEFAULT_AUDIT_PATH = Path("/var/lib/voxgate/audit/audit.jsonl")
DEFAULT_PLAINTEXT_SIZE_LIMIT = "8Gi"
DEFAULT_WEBHOOK_PORT = 9443
DEFAULT_WEBHOOK_ADDRESS = "0.0.0.0"  # noqa: S104 - the API server reaches the pod over its IP
# Members of this group may approve and revoke DataGrants (the admission webhook enforces it).
DEFAULT_STEWARD_GROUP = "voxgate-stewards"
# Leader election through a coordination.k8s.io Lease, with client-go's default timing.
DEFAULT_LEADER_LEASE_NAME = "voxgate-operator"
DEFAULT_LEADER_LEASE_DURATION_SECONDS = 15
DEFAULT_LEADER_RENEW_DEADLINE_SECONDS = 10.0
DEFAULT_LEADER_RETRY_PERIOD_SECONDS = 2.0
# client-go's JitterFactor: a standby waits retryPeriod * (1 + up to this) between attempts, and
# the renew deadline must leave room for more than one (jittered) retry.
LEADER_JITTER_FACTOR = 1.2
# Watch liveness (voxgate.reconcile.heartbeat): a beat every 20 s; the liveness probe fails after
# 120 s without one coming back through the watches, well past kopf's own 70 s stream recycling.
DEFAULT_WATCH_HEARTBEAT_SECONDS = 20.0
DEFAULT_WATCH_SILENCE_SECONDS = 120.0
# The replica's name, set by the chart from the pod's metadata.name (downward API). Not
# VOXGATE_-prefixed: it is the conventional name, and it is not a setting anyone chooses.
POD_NAME_VARIABLE = "POD_NAME"

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")
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
    max_concurrent_admissions: int = DEFAULT_MAX_CONCURRENT_ADMISSIONS
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
    # Only the replica holding the Lease reconciles; off only for a single replica.
    leader_election: bool = True
    leader_lease_name: str = DEFAULT_LEADER_LEASE_NAME
    leader_lease_duration_seconds: int = DEFAULT_LEADER_LEASE_DURATION_SECONDS
    leader_renew_deadline_seconds: float = DEFAULT_LEADER_RENEW_DEADLINE_SECONDS
    leader_retry_period_seconds: float = DEFAULT_LEADER_RETRY_PERIOD_SECONDS
    watch_heartbeat_seconds: float = DEFAULT_WATCH_HEARTBEAT_SECONDS
    watch_silence_seconds: float = DEFAULT_WATCH_SILENCE_SECONDS
    # This replica's pod name (POD_NAME); empty outside a pod. It names the replica's audit
    # anchor and is its identity in the Lease.
    replica: str = ""

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
        admissions = self.max_concurrent_admissions
        if isinstance(admissions, bool) or not 1 <= admissions <= MAX_CONCURRENT_ADMISSIONS:
            raise SettingsError(
                f"max_concurrent_admissions must be 1..{MAX_CONCURRENT_ADMISSIONS}, "
                f"got {admissions!r}"
            )
        if not _QUANTITY.match(self.plaintext_size_limit):
            raise SettingsError(
                f"plaintext_size_limit must be a quantity such as 8Gi, "
                f"got {self.plaintext_size_limit!r}"
            )
        self._check_webhook()
        self._check_broker()
        self._check_leader_election()
        self._check_watch_liveness()

    def _check_watch_liveness(self) -> None:
        beat, silence = self.watch_heartbeat_seconds, self.watch_silence_seconds
        for name, value in (("heartbeat", beat), ("silence", silence)):
            if not (math.isfinite(value) and value > 0):
                raise SettingsError(
                    f"watch_{name}_seconds must be a finite number > 0, got {value!r}"
                )
        if silence < 3 * beat:
            # One late or lost beat must not restart the pod.
            raise SettingsError(
                f"watch_silence_seconds ({silence:g}) must be at least 3 x "
                f"watch_heartbeat_seconds ({beat:g})"
            )

    def _check_leader_election(self) -> None:
        name = self.leader_lease_name
        if not _DNS_SUBDOMAIN.match(name) or len(name) > 253:
            raise SettingsError(f"leader_lease_name must be a DNS subdomain, got {name!r}")
        problem = election_timing_problem(
            self.leader_lease_duration_seconds,
            self.leader_renew_deadline_seconds,
            self.leader_retry_period_seconds,
        )
        if problem is not None:
            raise SettingsError(f"leader_{problem}")
        if self.replica and (not _DNS_SUBDOMAIN.match(self.replica) or len(self.replica) > 253):
            raise SettingsError(f"replica must be a pod name, got {self.replica!r}")

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
        admissions = text("MAX_CONCURRENT_ADMISSIONS", str(DEFAULT_MAX_CONCURRENT_ADMISSIONS))
        webhook_port = text("WEBHOOK_PORT", str(DEFAULT_WEBHOOK_PORT))
        cert_file, key_file = text("WEBHOOK_CERT_FILE", ""), text("WEBHOOK_KEY_FILE", "")
        broker_cert, broker_key = text("BROKER_CERT_FILE", ""), text("BROKER_KEY_FILE", "")
        broker_ca_file = text("BROKER_CA_FILE", "")
        lease_duration = text(
            "LEADER_LEASE_DURATION_SECONDS", str(DEFAULT_LEADER_LEASE_DURATION_SECONDS)
        )
        renew_deadline = text(
            "LEADER_RENEW_DEADLINE_SECONDS", str(DEFAULT_LEADER_RENEW_DEADLINE_SECONDS)
        )
        retry_period = text("LEADER_RETRY_PERIOD_SECONDS", str(DEFAULT_LEADER_RETRY_PERIOD_SECONDS))
        try:
            return cls(
                namespace=text("NAMESPACE", DEFAULT_NAMESPACE),
                image=text("IMAGE", DEFAULT_IMAGE),
                broker_url=text("BROKER_URL", ""),
                broker_port=_integer("broker_port", port),
                opa_url=text("OPA_URL", DEFAULT_OPA_URL),
                policy_timeout_seconds=_number("policy_timeout_seconds", timeout),
                max_concurrent_admissions=_integer("max_concurrent_admissions", admissions),
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
                leader_election=_boolean("leader_election", text("LEADER_ELECTION", "true")),
                leader_lease_name=text("LEADER_LEASE_NAME", DEFAULT_LEADER_LEASE_NAME),
                leader_lease_duration_seconds=_integer(
                    "leader_lease_duration_seconds", lease_duration
                ),
                leader_renew_deadline_seconds=_number(
                    "leader_renew_deadline_seconds", renew_deadline
                ),
                leader_retry_period_seconds=_number("leader_retry_period_seconds", retry_period),
                watch_heartbeat_seconds=_number(
                    "watch_heartbeat_seconds",
                    text("WATCH_HEARTBEAT_SECONDS", str(DEFAULT_WATCH_HEARTBEAT_SECONDS)),
                ),
                watch_silence_seconds=_number(
                    "watch_silence_seconds",
                    text("WATCH_SILENCE_SECONDS", str(DEFAULT_WATCH_SILENCE_SECONDS)),
                ),
                replica=environ.get(POD_NAME_VARIABLE, ""),
            )
        except SettingsError as error:
            # Every message starts with the field's name; show the variable the user sets.
            field_name, rest = str(error).split(" ", 1)
            variable = (
                POD_NAME_VARIABLE if field_name == "replica" else ENV_PREFIX + field_name.upper()
            )
            raise SettingsError(f"{variable} {rest}") from None


def election_timing_problem(
    lease_duration: int, renew_deadline: float, retry_period: float
) -> str | None:
    """What is wrong with a leader-election timing, as "<field> must ..." (None: nothing).

    client-go's rules: a leader gives up (renew deadline) before anyone may take its Lease over
    (lease duration), and retries more than once within the deadline.
    """
    if isinstance(lease_duration, bool) or not isinstance(lease_duration, int):
        return f"lease_duration_seconds must be a whole number of seconds, got {lease_duration!r}"
    if lease_duration < 1:
        return f"lease_duration_seconds must be at least 1, got {lease_duration}"
    for name, value in (("retry_period", retry_period), ("renew_deadline", renew_deadline)):
        if not (math.isfinite(value) and value > 0):
            return f"{name}_seconds must be a finite number > 0, got {value!r}"
    if renew_deadline >= lease_duration:
        return (
            f"renew_deadline_seconds ({renew_deadline:g}) must be less than "
            f"lease_duration_seconds ({lease_duration})"
        )
    if renew_deadline <= LEADER_JITTER_FACTOR * retry_period:
        return (
            f"renew_deadline_seconds ({renew_deadline:g}) must be more than "
            f"{LEADER_JITTER_FACTOR:g} x retry_period_seconds ({retry_period:g})"
        )
    return None


def _boolean(name: str, text: str) -> bool:
    if text.lower() in _TRUE:
        return True
    if text.lower() in _FALSE:
        return False
    raise SettingsError(f"{name} must be true or false, got {text!r}")


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
