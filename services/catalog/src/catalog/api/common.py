"""What the catalog's route modules share: the error responses they document."""

from __future__ import annotations

from shared.http import error_responses

NOT_FOUND = error_responses(404)
# Routes of an account: unknown (404), or auth cannot be asked whether it exists (503).
OF_ACCOUNT = error_responses(404, 503)
# ... that also ask Allegro as the account: without usable tokens (409), refused (502).
ASKS_ALLEGRO = error_responses(404, 409, 502, 503)
