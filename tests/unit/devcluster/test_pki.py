from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from voxgate.devcluster import ControlPlane, ControlPlaneError, pki


def _load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_client_certificate_carries_user_and_groups_and_chains_to_ca(tmp_path: Path) -> None:
    ca = pki.new_ca(tmp_path, "ca", "test-ca")
    pair = ca.issue(tmp_path, "alice", "alice", ("stewards", "researchers"), client=True)
    cert = _load(pair.cert_path)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "alice"
    groups = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    assert groups == ["stewards", "researchers"]
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    cert.verify_directly_issued_by(_load(ca.files.cert_path))


def test_serving_certificate_names_loopback(tmp_path: Path) -> None:
    ca = pki.new_ca(tmp_path, "ca", "test-ca")
    pair = ca.issue(tmp_path, "server", "server", server_names=("127.0.0.1", "localhost"))
    names = _load(pair.cert_path).extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert ipaddress.ip_address("127.0.0.1") in names.value.get_values_for_type(x509.IPAddress)
    assert names.value.get_values_for_type(x509.DNSName) == ["localhost"]


def test_private_keys_are_owner_only(tmp_path: Path) -> None:
    ca = pki.new_ca(tmp_path, "ca", "test-ca")
    signing = pki.new_signing_key(tmp_path, "sa")
    for key in (ca.files.key_path, signing.key_path):
        assert key.stat().st_mode & 0o077 == 0


def test_load_ca_round_trips(tmp_path: Path) -> None:
    ca = pki.new_ca(tmp_path, "ca", "test-ca")
    loaded = pki.load_ca(ca.files)
    assert isinstance(loaded.key, ec.EllipticCurvePrivateKey)
    assert loaded.cert == ca.cert


def test_foreign_non_empty_state_dir_is_never_wiped(tmp_path: Path) -> None:
    precious = tmp_path / "thesis.tex"
    precious.write_text("years of work")
    with pytest.raises(ControlPlaneError, match="not made by voxgate"):
        ControlPlane(tmp_path).start()
    assert precious.read_text() == "years of work"
