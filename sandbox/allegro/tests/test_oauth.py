"""OAuth: authorization code with PKCE, device flow, client credentials, rotating refresh."""

from __future__ import annotations

import base64
import hashlib
import secrets

import httpx

from allegro_emulator.admin import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_REDIRECT_URIS

from .conftest import MEDIA, Server

BASIC = {
    "Authorization": "Basic "
    + base64.b64encode(f"{DEMO_CLIENT_ID}:{DEMO_CLIENT_SECRET}".encode()).decode()
}
REDIRECT = DEMO_REDIRECT_URIS[0]


def _token(server: Server, **params: str) -> httpx.Response:
    return httpx.post(server.base_url + "/auth/oauth/token", params=params, headers=BASIC)


def _me(server: Server, token: str) -> httpx.Response:
    return httpx.get(
        server.base_url + "/me", headers={"Accept": MEDIA, "Authorization": f"Bearer {token}"}
    )


def test_authorization_code_with_pkce(server: Server) -> None:
    verifier = secrets.token_urlsafe(48)
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )
    page = httpx.get(
        server.base_url + "/auth/oauth/authorize",
        params={
            "response_type": "code",
            "client_id": DEMO_CLIENT_ID,
            "redirect_uri": REDIRECT,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "state": "xyz",
        },
    )
    assert page.status_code == 200 and "demo-seller" in page.text
    approved = httpx.post(
        server.base_url + "/auth/oauth/authorize",
        data={
            "response_type": "code",
            "client_id": DEMO_CLIENT_ID,
            "redirect_uri": REDIRECT,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "state": "xyz",
            "login": "demo-seller",
            "decision": "approve",
        },
    )
    assert approved.status_code == 303
    location = httpx.URL(approved.headers["location"])
    assert location.params["state"] == "xyz"
    code = location.params["code"]
    wrong = _token(
        server,
        grant_type="authorization_code",
        code=code,
        redirect_uri=REDIRECT,
        code_verifier="not-the-verifier",
    )
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    # The code was consumed by the failed attempt, as a one-time code should be: get a new one.
    code = server.admin.post(
        "/oauth/authorize",
        json={
            "clientId": DEMO_CLIENT_ID,
            "redirectUri": REDIRECT,
            "login": "demo-seller",
            "codeChallenge": challenge,
            "codeChallengeMethod": "S256",
        },
    ).json()["code"]
    good = _token(
        server,
        grant_type="authorization_code",
        code=code,
        redirect_uri=REDIRECT,
        code_verifier=verifier,
    )
    assert good.status_code == 200
    body = good.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 43199 and body["refresh_token"]
    payload = body["access_token"].split(".")[1]
    assert b"user_name" in base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    assert _me(server, body["access_token"]).json()["login"] == "demo-seller"


def test_refresh_tokens_rotate_and_are_single_use(server: Server) -> None:
    first = server.admin.post("/tokens", json={"login": "demo-seller"}).json()
    second = _token(server, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert second.status_code == 200
    assert second.json()["refresh_token"] != first["refresh_token"]
    reuse = _token(server, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert reuse.status_code == 400
    assert reuse.json()["error"] == "invalid_grant"
    third = _token(server, grant_type="refresh_token", refresh_token=second.json()["refresh_token"])
    assert third.status_code == 200


def test_device_flow_pending_slow_down_approved(server: Server) -> None:
    device = httpx.post(
        server.base_url + "/auth/oauth/device", data={"client_id": DEMO_CLIENT_ID}, headers=BASIC
    ).json()
    assert device["interval"] == 5 and device["verification_uri_complete"].endswith(
        device["user_code"]
    )
    grant = "urn:ietf:params:oauth:grant-type:device_code"
    pending = _token(server, grant_type=grant, device_code=device["device_code"])
    assert pending.status_code == 400 and pending.json()["error"] == "authorization_pending"
    too_fast = _token(server, grant_type=grant, device_code=device["device_code"])
    assert too_fast.json()["error"] == "slow_down"
    decided = server.admin.post(
        f"/oauth/device/{device['user_code']}/approve", json={"login": "demo-seller"}
    )
    assert decided.status_code == 200
    tokens = _token(server, grant_type=grant, device_code=device["device_code"])
    assert tokens.status_code == 200 and tokens.json()["refresh_token"]
    used = _token(server, grant_type=grant, device_code=device["device_code"])
    assert used.json()["error"] == "invalid_request"


def test_device_flow_denied_and_expired(server: Server) -> None:
    grant = "urn:ietf:params:oauth:grant-type:device_code"
    denied = httpx.post(server.base_url + "/auth/oauth/device", headers=BASIC).json()
    server.admin.post(f"/oauth/device/{denied['user_code']}/deny")
    assert (
        _token(server, grant_type=grant, device_code=denied["device_code"]).json()["error"]
        == "access_denied"
    )
    late = httpx.post(server.base_url + "/auth/oauth/device", headers=BASIC).json()
    server.emu.world.device_codes[late["device_code"]].expires_at = 0
    assert (
        _token(server, grant_type=grant, device_code=late["device_code"]).json()["error"]
        == "expired_token"
    )


def test_client_credentials_token_is_refused_on_user_resources(server: Server) -> None:
    response = _token(server, grant_type="client_credentials")
    assert response.status_code == 200 and "refresh_token" not in response.json()
    app_token = response.json()["access_token"]
    assert _me(server, app_token).status_code == 403
    categories = httpx.get(
        server.base_url + "/sale/categories",
        headers={"Accept": MEDIA, "Authorization": f"Bearer {app_token}"},
    )
    assert categories.status_code == 200


def test_scopes_are_enforced(server: Server) -> None:
    token = server.admin.post(
        "/tokens",
        json={"login": "demo-seller", "scope": "allegro:api:profile:read allegro:api:orders:read"},
    ).json()
    headers = {"Accept": MEDIA, "Authorization": f"Bearer {token['access_token']}"}
    assert httpx.get(server.base_url + "/me", headers=headers).status_code == 200
    assert httpx.get(server.base_url + "/order/events", headers=headers).status_code == 200
    offers = httpx.get(server.base_url + "/sale/offers", headers=headers)
    assert offers.status_code == 403 and offers.json()["errors"][0]["code"] == "ACCESS_DENIED"


def test_bad_client_secret_and_admin_revoke(server: Server) -> None:
    bad = httpx.post(
        server.base_url + "/auth/oauth/token",
        params={"grant_type": "client_credentials"},
        auth=(DEMO_CLIENT_ID, "wrong"),
    )
    assert bad.status_code == 401
    token = server.admin.post("/tokens", json={"login": "demo-seller-2"}).json()["access_token"]
    assert _me(server, token).status_code == 200
    server.admin.post("/oauth/revoke", json={"login": "demo-seller-2"})
    assert _me(server, token).status_code == 401
