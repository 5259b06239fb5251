"""Allegro's OAuth 2.0 server (allegro-api.md section 2).

Authorization code with PKCE, device flow, client credentials and refresh with single-use,
rotating refresh tokens; access tokens live 12 h (`expires_in` 43199 like Allegro's). Tokens are
JWT-shaped opaque strings carrying `user_name` and `scope` so that clients can decode them as
they would Allegro's.
"""

from __future__ import annotations

import base64
import hashlib
import html
import secrets
from urllib.parse import parse_qsl, urlencode

import orjson
from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from allegro_emulator.errors import AuthError
from allegro_emulator.state import AuthCode, Client, DeviceCode, Emulator, Json, Token
from allegro_emulator.web import emulator

ACCESS_TOKEN_SECONDS = 12 * 3600
REFRESH_TOKEN_SECONDS = 90 * 24 * 3600
DEVICE_CODE_SECONDS = 3600
DEVICE_INTERVAL = 5
AUTH_CODE_SECONDS = 60  # Allegro's is short-lived ("10-second code"); a little slack for tests
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
USER_SCOPES = " ".join(
    [
        "allegro:api:sale:offers:read",
        "allegro:api:sale:offers:write",
        "allegro:api:sale:settings:read",
        "allegro:api:sale:settings:write",
        "allegro:api:orders:read",
        "allegro:api:orders:write",
        "allegro:api:profile:read",
        "allegro:api:shipments:read",
        "allegro:api:shipments:write",
    ]
)

router = APIRouter()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _jwt(payload: Json) -> str:
    header = _b64(orjson.dumps({"alg": "RS256", "typ": "JWT"}))
    return f"{header}.{_b64(orjson.dumps(payload))}.{_b64(secrets.token_bytes(32))}"


def issue_tokens(emu: Emulator, client_id: str, user_id: str | None, scope: str) -> Json:
    """Mint an access token (and, for a user, a refresh token); returns the token response."""
    now = emu.now()
    jti = secrets.token_hex(16)
    claims: Json = {
        "client_id": client_id,
        "scope": scope.split(),
        "allegro_api": True,
        "jti": jti,
        "exp": int(now + ACCESS_TOKEN_SECONDS),
    }
    if user_id is not None:
        claims["user_name"] = user_id
    access = _jwt(claims)
    emu.world.access_tokens[access] = Token(client_id, user_id, scope, now + ACCESS_TOKEN_SECONDS)
    response: Json = {
        "access_token": access,
        "token_type": "bearer",
        "expires_in": ACCESS_TOKEN_SECONDS - 1,
        "scope": scope,
        "allegro_api": True,
        "jti": jti,
    }
    if user_id is not None:
        refresh = _jwt({**claims, "ati": jti, "exp": int(now + REFRESH_TOKEN_SECONDS)})
        emu.world.refresh_tokens[refresh] = Token(
            client_id, user_id, scope, now + REFRESH_TOKEN_SECONDS
        )
        response["refresh_token"] = refresh
    return response


def revoke_user_tokens(emu: Emulator, user_id: str) -> int:
    world = emu.world
    revoked = 0
    for store in (world.access_tokens, world.refresh_tokens):
        for value in [v for v, t in store.items() if t.user_id == user_id]:
            del store[value]
            revoked += 1
    return revoked


def redirect_allowed(client: Client, redirect_uri: str) -> bool:
    """Allegro wants an exact match with a registered URI; a client registered without any
    (e.g. by a setup script that only knows the Client ID) accepts every URI."""
    return bool(redirect_uri) and (not client.redirect_uris or redirect_uri in client.redirect_uris)


def _client(emu: Emulator, request: Request, form: dict[str, str]) -> str:
    """The client authenticated by HTTP Basic (or, for public device clients, client_id)."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("basic "):
        try:
            client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            raise AuthError(401, "unauthorized", "Bad client credentials") from None
        client = emu.world.clients.get(client_id)
        if client is None or client.client_secret != secret:
            raise AuthError(401, "unauthorized", "Bad client credentials")
        return client_id
    client_id = form.get("client_id", "")
    if (
        client_id in emu.world.clients
        and form.get("client_secret") == emu.world.clients[client_id].client_secret
    ):
        return client_id
    raise AuthError(401, "unauthorized", "Full authentication is required to access this resource")


async def _params(request: Request) -> dict[str, str]:
    """Allegro takes token parameters in the query string; a form body works as well."""
    params = dict(request.query_params)
    if request.method == "POST":
        params.update(await _form(request))
    return params


async def _form(request: Request) -> dict[str, str]:
    # Parsed by hand: starlette's form parser needs python-multipart, which we do not need.
    return dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))


@router.post("/token")
async def token(request: Request) -> Response:
    emu = emulator(request)
    params = await _params(request)
    client_id = _client(emu, request, params)
    grant = params.get("grant_type", "")
    if grant == "client_credentials":
        body = issue_tokens(emu, client_id, None, "allegro:api:sale:offers:read")
    elif grant == "authorization_code":
        body = _authorization_code(emu, client_id, params)
    elif grant == "refresh_token":
        body = _refresh(emu, client_id, params)
    elif grant == DEVICE_GRANT:
        body = _device_token(emu, client_id, params)
    else:
        raise AuthError(400, "unsupported_grant_type", f"Unsupported grant type: {grant}")
    return Response(orjson.dumps(body), 200, media_type="application/json")


def _authorization_code(emu: Emulator, client_id: str, params: dict[str, str]) -> Json:
    code_value = params.get("code")
    if not code_value:
        raise AuthError(400, "invalid_request", "An authorization code must be supplied.")
    code = emu.world.auth_codes.pop(code_value, None)
    if code is None or code.client_id != client_id or code.expires_at < emu.now():
        raise AuthError(400, "invalid_grant", f"Invalid authorization code: {code_value}")
    if params.get("redirect_uri") != code.redirect_uri:
        raise AuthError(400, "invalid_grant", "Redirect URI mismatch.")
    if code.code_challenge:
        verifier = params.get("code_verifier", "")
        if code.code_challenge_method == "S256":
            computed = _b64(hashlib.sha256(verifier.encode()).digest())
        else:
            computed = verifier
        if not verifier or computed != code.code_challenge:
            raise AuthError(400, "invalid_grant", "Invalid code verifier")
    return issue_tokens(emu, client_id, code.user_id, code.scope)


def _refresh(emu: Emulator, client_id: str, params: dict[str, str]) -> Json:
    value = params.get("refresh_token", "")
    world = emu.world
    # Single use: the old refresh token stops working the moment a new pair is issued.
    old = world.refresh_tokens.pop(value, None)
    if (
        old is None
        or old.client_id != client_id
        or old.expires_at < emu.now()
        or old.user_id is None
    ):
        raise AuthError(400, "invalid_grant", f"Invalid refresh token: {value}")
    world.used_refresh_tokens.add(value)
    return issue_tokens(emu, client_id, old.user_id, old.scope)


def _device_token(emu: Emulator, client_id: str, params: dict[str, str]) -> Json:
    device = emu.world.device_codes.get(params.get("device_code", ""))
    if device is None or device.client_id != client_id or device.status == "used":
        raise AuthError(400, "invalid_request", "Invalid device code")
    now = emu.now()
    if device.expires_at < now:
        raise AuthError(400, "expired_token", "The device code has expired")
    if device.status == "denied":
        raise AuthError(400, "access_denied", "The user denied the authorization request")
    if device.status == "pending":
        too_soon = now - device.last_poll < device.interval
        device.last_poll = now
        if too_soon and device.last_poll:
            device.interval += 5  # RFC 8628: slow down adds 5 s
            raise AuthError(400, "slow_down", "Polling too frequently")
        raise AuthError(
            400, "authorization_pending", "User has not authorized the device code yet."
        )
    device.status = "used"
    assert device.user_id is not None
    return issue_tokens(emu, client_id, device.user_id, USER_SCOPES)


@router.post("/device")
async def device(request: Request) -> Response:
    emu = emulator(request)
    params = await _params(request)
    client_id = _client(emu, request, params)
    device = DeviceCode(
        device_code=secrets.token_urlsafe(24),
        user_code=secrets.token_hex(4).upper(),
        client_id=client_id,
        expires_at=emu.now() + DEVICE_CODE_SECONDS,
        interval=DEVICE_INTERVAL,
    )
    emu.world.device_codes[device.device_code] = device
    verify = f"{str(request.base_url).rstrip('/')}{emu.config.oauth_prefix}/skojarz-aplikacje"
    body = {
        "device_code": device.device_code,
        "expires_in": DEVICE_CODE_SECONDS,
        "user_code": device.user_code,
        "interval": DEVICE_INTERVAL,
        "verification_uri": verify,
        "verification_uri_complete": f"{verify}?code={device.user_code}",
    }
    return Response(orjson.dumps(body), 200, media_type="application/json")


def decide_device(
    emu: Emulator, user_code: str, login: str | None, approve: bool
) -> DeviceCode | None:
    """Approve or deny a pending device code (admin call or the verification page)."""
    device = next((d for d in emu.world.device_codes.values() if d.user_code == user_code), None)
    if device is None or device.status != "pending":
        return None
    if approve:
        seller = emu.seller_by_login(login or "")
        if seller is None:
            return None
        device.status, device.user_id = "approved", seller.id
    else:
        device.status = "denied"
    return device


def grant_code(
    emu: Emulator,
    client_id: str,
    redirect_uri: str,
    user_id: str,
    code_challenge: str | None,
    code_challenge_method: str | None,
    scope: str | None,
) -> str:
    code = AuthCode(
        code=secrets.token_urlsafe(24),
        client_id=client_id,
        user_id=user_id,
        redirect_uri=redirect_uri,
        code_challenge=code_challenge,
        code_challenge_method=code_challenge_method,
        scope=scope or USER_SCOPES,
        expires_at=emu.now() + AUTH_CODE_SECONDS,
    )
    emu.world.auth_codes[code.code] = code
    return code.code


@router.get("/authorize")
async def authorize(request: Request) -> Response:
    """A minimal consent page: pick a seller account and approve or deny."""
    emu = emulator(request)
    q = request.query_params
    client = emu.world.clients.get(q.get("client_id", ""))
    if client is None or q.get("response_type") != "code":
        return HTMLResponse("<h1>Nie możemy wyświetlić strony</h1><p>Unknown client</p>", 400)
    if not redirect_allowed(client, q.get("redirect_uri", "")):
        return HTMLResponse(
            "<h1>Nie możemy wyświetlić strony</h1><p>redirect_uri mismatch</p>", 400
        )
    hidden = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
        for k, v in q.items()
    )
    options = "".join(
        f'<option value="{html.escape(s.login)}">{html.escape(s.login)}</option>'
        for s in emu.world.sellers.values()
    )
    page = (
        f"<h1>{html.escape(client.name)} asks for access to your Allegro account</h1>"
        f'<form method="post" action="authorize">{hidden}<select name="login">{options}</select>'
        '<button name="decision" value="approve">Pozwól</button>'
        '<button name="decision" value="deny">Anuluj</button></form>'
    )
    return HTMLResponse(page)


@router.post("/authorize")
async def authorize_decision(request: Request) -> Response:
    emu = emulator(request)
    form = await _form(request)
    client = emu.world.clients.get(form.get("client_id", ""))
    redirect_uri = form.get("redirect_uri", "")
    if client is None or not redirect_allowed(client, redirect_uri):
        return HTMLResponse("<h1>Nie możemy wyświetlić strony</h1>", 400)
    extra = {"state": form["state"]} if "state" in form else {}
    seller = emu.seller_by_login(form.get("login", ""))
    if form.get("decision") != "approve" or seller is None:
        return RedirectResponse(
            f"{redirect_uri}?{urlencode({'error': 'access_denied', **extra})}", 303
        )
    code = grant_code(
        emu,
        client.client_id,
        redirect_uri,
        seller.id,
        form.get("code_challenge"),
        form.get("code_challenge_method"),
        form.get("scope"),
    )
    return RedirectResponse(f"{redirect_uri}?{urlencode({'code': code, **extra})}", 303)


@router.get("/skojarz-aplikacje")
async def verification_page(request: Request) -> Response:
    code = html.escape(request.query_params.get("code", ""))
    emu = emulator(request)
    options = "".join(
        f"<option>{html.escape(s.login)}</option>" for s in emu.world.sellers.values()
    )
    return HTMLResponse(
        f'<form method="post"><input name="code" value="{code}">'
        f'<select name="login">{options}</select>'
        '<button name="decision" value="approve">Pozwól</button>'
        '<button name="decision" value="deny">Anuluj</button></form>'
    )


@router.post("/skojarz-aplikacje")
async def verification_decision(request: Request) -> Response:
    emu = emulator(request)
    form = await _form(request)
    done = decide_device(
        emu, form.get("code", ""), form.get("login"), form.get("decision") == "approve"
    )
    return HTMLResponse("<p>OK</p>" if done else "<p>Invalid code</p>", 200 if done else 400)
