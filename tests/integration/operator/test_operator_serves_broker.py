"""`voxgate operator run` serves the key broker when its certificate is configured."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request

import pytest

from voxgate.devcluster import ControlPlane

pytestmark = pytest.mark.integration


def test_broker_answers_an_unauthenticated_request_with_401(
    control_plane: ControlPlane, broker_url: str
) -> None:
    context = ssl.create_default_context(cafile=str(control_plane.ca_path))
    request = urllib.request.Request(  # noqa: S310 - https to our own broker on loopback
        broker_url + "/v1/keys", data=b"{}", method="POST"
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, context=context, timeout=10)  # noqa: S310
    assert refused.value.code == 401
    assert json.loads(refused.value.read())["reason"] == "MissingToken"
