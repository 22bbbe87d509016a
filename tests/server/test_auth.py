"""Authentication: requests without the server's token are refused, with a JSON message."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError


async def test_no_token_is_refused(jp_fetch: Any, jp_ws_fetch: Any, nbflow_home: Any) -> None:
    no_token = {"Authorization": ""}
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch("nbflow", "api", "runs", headers=no_token)
    assert err.value.code == 401
    assert json.loads(err.value.response.body) == {
        "message": "authentication required: log in or pass the server's token"
    }
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch("nbflow", "api", "runs", method="POST", body="{}", headers=no_token)
    assert err.value.code == 403  # no XSRF token either
    assert "message" in json.loads(err.value.response.body)
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch("nbflow", "api", "runs", "x-1", method="DELETE", headers=no_token)
    assert err.value.code == 403
    with pytest.raises(HTTPClientError) as err:
        await jp_ws_fetch("nbflow", "api", "events", headers=no_token)
    assert err.value.code == 403
    assert not (nbflow_home / "runs").exists()


async def test_a_wrong_token_is_refused(jp_fetch: Any) -> None:
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch("nbflow", "api", "runs", headers={"Authorization": "token nope"})
    assert err.value.code == 401
