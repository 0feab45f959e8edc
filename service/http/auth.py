"""Who may do what: bearer tokens compared in constant time, one rule per kind of access."""

from __future__ import annotations

import hmac

from service.errors import HTTPError
from service.http.messages import Request


def bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer`` header; None for any other scheme."""
    scheme, _, token = request.header("authorization").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def token_matches(given: str | None, expected: str) -> bool:
    """Constant-time comparison; an empty token never matches."""
    return given is not None and given != "" and hmac.compare_digest(given.encode(), expected.encode())


def authorise_read(settings, request: Request) -> None:
    """Who may read the log (history, stats, metrics) and correct it. PREDICTIONS_READ: public, token or off."""
    mode = settings.predictions_read
    if mode == "off":
        raise HTTPError(403, "forbidden", "reading predictions is turned off on this server (PREDICTIONS_READ=off)")
    if mode == "token" and not token_matches(bearer_token(request), settings.predictions_token or ""):
        raise HTTPError(
            401,
            "unauthorized",
            "send Authorization: Bearer <PREDICTIONS_TOKEN>",
            {"WWW-Authenticate": 'Bearer realm="predictions"'},
        )


def authorise_correction(settings, request: Request) -> None:
    """Corrections feed the next training, so production gives them their own token (CORRECTIONS_TOKEN);
    without one (a local run) whoever may read the log may correct it."""
    if not settings.corrections_token:
        authorise_read(settings, request)
    elif not token_matches(bearer_token(request), settings.corrections_token):
        raise HTTPError(
            401,
            "unauthorized",
            "corrections need Authorization: Bearer <CORRECTIONS_TOKEN>",
            {"WWW-Authenticate": 'Bearer realm="corrections"'},
        )
