"""`BrokerDekProvider`: unseal's data keys from the key broker, over HTTPS with the pod's token.

Standard library only (http.client, ssl), so the unseal init container needs nothing else. The
token file is re-read on every fetch because the kubelet rotates projected tokens. Connection
failures and 503 answers are retried with backoff (the operator may be restarting; a failed init
container would fail the whole training job); 4xx answers are final.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from voxgate.broker.views import BadObjectRef, ObjectRef
from voxgate.broker.wire import (
    KEYS_PATH,
    MAX_BODY_BYTES,
    BadKeyRequest,
    KeyRequest,
    keys_from_json,
    refusal_from_json,
)
from voxgate.keys.errors import UnknownKek, UnknownKekVersion
from voxgate.sealed.dek import DekRequest
from voxgate.sealed.errors import KeyUnwrapFailed, SealError

MAX_ANSWER_BYTES = MAX_BODY_BYTES


class BrokerError(SealError):
    """The key broker could not be asked, or its answer is unusable."""


class BrokerUnreachable(BrokerError):
    """No connection (refused, DNS, timeout) after every attempt."""


class BrokerTlsError(BrokerError):
    """The broker's certificate did not verify against the CA bundle, or the bundle is bad."""


class BrokerRefused(BrokerError):
    """The broker answered with a refusal: `status` and CamelCase `reason` say why."""

    def __init__(self, message: str, status: int, reason: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


class BrokerTokenError(BrokerError):
    """The ServiceAccount token file is missing, unreadable or empty."""


# Refusals that mean the same as a local key-store error: raise that, so callers see one kind.
_KEY_ERRORS: dict[str, type[ValueError]] = {
    "UnknownKek": UnknownKek,
    "UnknownKekVersion": UnknownKekVersion,
    "KeyUnwrapFailed": KeyUnwrapFailed,
}


# Worth asking again after a pause: the broker cannot decide right now (503: the API server or
# the ledger unreachable), or asks this address to slow down (429: it rate-limits addresses that
# send many unauthenticated requests, which a pod behind a shared NAT address may share).
RETRIED_STATUSES = frozenset({429, 503})


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    first_delay_seconds: float = 1.0
    max_delay_seconds: float = 15.0

    def delays(self) -> list[float]:
        """The pause before each retry: 1, 2, 4, ... capped."""
        return [
            min(self.first_delay_seconds * 2**i, self.max_delay_seconds)
            for i in range(max(0, self.attempts - 1))
        ]


class BrokerDekProvider:
    """A `voxgate.sealed.dek.DekProvider` that asks the key broker."""

    def __init__(
        self,
        url: str,
        token_file: Path,
        *,
        dataset: ObjectRef | None = None,
        ca_file: Path | None = None,
        timeout_seconds: float = 30.0,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """`dataset` is the SpeechDataset (NS/NAME) the job was admitted for; without it the
        manifest's dataset id must itself be NS/NAME. `ca_file` is the PEM bundle that signed
        the broker's certificate (None: the system trust store)."""
        parts = urlsplit(url)
        if parts.scheme != "https" or not parts.hostname:
            raise BrokerError(f"broker URL {url!r} is not https://HOST[:PORT][/PATH]")
        if parts.query or parts.fragment or parts.username:
            raise BrokerError(f"broker URL {url!r} may not have a query, fragment or user")
        self.url = url
        self.host = parts.hostname
        try:
            self.port = parts.port or 443
        except ValueError:
            raise BrokerError(f"broker URL {url!r} has an invalid port") from None
        self.path = parts.path.rstrip("/") + KEYS_PATH
        self.token_file = token_file
        self.dataset = dataset
        self.timeout_seconds = timeout_seconds
        self.retry = retry or RetryPolicy()
        self.sleep = sleep
        self.tls = _client_tls(ca_file)

    def fetch(self, request: DekRequest) -> dict[str, bytearray]:
        dataset = self.dataset or _dataset_from_id(request.dataset_id)
        body = json.dumps(KeyRequest.for_dek_request(dataset, request).to_json()).encode()
        delays = self.retry.delays()
        while True:
            try:
                status, answer = self._post(body)
            except BrokerUnreachable:
                if not delays:
                    raise
            else:
                if status not in RETRIED_STATUSES or not delays:
                    return self._keys(status, answer, {s.shard_id for s in request.shards})
            self.sleep(delays.pop(0))

    def _post(self, body: bytes) -> tuple[int, bytes]:
        token = self._token()
        connection = http.client.HTTPSConnection(
            self.host, self.port, timeout=self.timeout_seconds, context=self.tls
        )
        headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        try:
            connection.request("POST", self.path, body=body, headers=headers)
            response = connection.getresponse()
            return response.status, response.read(MAX_ANSWER_BYTES + 1)
        except ssl.SSLCertVerificationError as error:
            raise BrokerTlsError(
                f"key broker {self.url}: its certificate did not verify "
                f"({error.verify_message or error.reason}); check --broker-ca"
            ) from None
        except ssl.SSLError as error:
            raise BrokerTlsError(
                f"key broker {self.url}: TLS failed ({error.reason or error})"
            ) from None
        except (OSError, http.client.HTTPException) as error:
            raise BrokerUnreachable(f"key broker {self.url}: {_describe(error)}") from None
        finally:
            connection.close()

    def _keys(self, status: int, answer: bytes, expected: set[str]) -> dict[str, bytearray]:
        document = _json(answer)
        if status == 200:
            try:
                return keys_from_json(document, expected)
            except BadKeyRequest as error:
                raise BrokerError(f"key broker {self.url}: unusable answer: {error}") from None
        refusal = refusal_from_json(document)
        if refusal is None:
            raise BrokerError(f"key broker {self.url}: unexpected HTTP {status} answer")
        reason, message = refusal
        text = f"key broker refused ({status} {reason}): {message}"
        key_error = _KEY_ERRORS.get(reason)
        if key_error is not None:
            raise key_error(text)
        raise BrokerRefused(text, status, reason)

    def _token(self) -> str:
        try:
            token = self.token_file.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError) as error:
            detail = error.strerror if isinstance(error, OSError) else "not ASCII"
            raise BrokerTokenError(f"cannot read token file {self.token_file}: {detail}") from None
        if not token or any(c.isspace() for c in token):
            raise BrokerTokenError(f"token file {self.token_file} holds no token")
        return token


def _client_tls(ca_file: Path | None) -> ssl.SSLContext:
    if ca_file is None:
        context = ssl.create_default_context()
    else:
        try:
            context = ssl.create_default_context(cafile=str(ca_file))
        except FileNotFoundError:
            raise BrokerTlsError(f"broker CA bundle {ca_file} does not exist") from None
        except (ssl.SSLError, OSError) as error:
            raise BrokerTlsError(
                f"broker CA bundle {ca_file} is not a readable PEM bundle "
                f"({getattr(error, 'reason', None) or error})"
            ) from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def _dataset_from_id(dataset_id: str) -> ObjectRef:
    if "/" not in dataset_id:
        raise BrokerError(
            f"the manifest names dataset {dataset_id!r} without a namespace; "
            "say which SpeechDataset it is (--dataset NAMESPACE/NAME)"
        )
    try:
        return ObjectRef.parse(dataset_id)
    except BadObjectRef as error:
        raise BrokerError(str(error)) from None


def _json(answer: bytes) -> Any:
    if len(answer) > MAX_ANSWER_BYTES:
        return None
    try:
        return json.loads(answer)
    except ValueError:
        return None


def _describe(error: BaseException) -> str:
    if isinstance(error, ConnectionRefusedError):
        return "connection refused (is the operator running and the URL right?)"
    if isinstance(error, socket.gaierror):
        return f"cannot resolve the host name ({error.strerror})"
    if isinstance(error, TimeoutError):
        return "timed out"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return type(error).__name__
