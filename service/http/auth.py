"""Who may do what: bearer tokens compared in constant time, one rule per kind of access."""

from __future__ import annotations

import hmac

from service.errors import HTTPError
from service.http.messages import Request
from service.http.routes import Access


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


def authorise_training(settings, request: Request) -> None:
    """Training needs TRAIN_TOKEN. Behind an AWS_IAM function URL, Authorization carries the SigV4 signature,
    so the token may come in X-Train-Token instead."""
    expected = settings.train_token
    if not expected:
        raise HTTPError(503, "train_disabled", "training is disabled: the server has no TRAIN_TOKEN configured")
    token = bearer_token(request)
    if token is None:
        token = request.header("x-train-token").strip()
    if not token_matches(token, expected):
        raise HTTPError(
            401,
            "unauthorized",
            "send Authorization: Bearer <TRAIN_TOKEN> (or X-Train-Token)",
            {"WWW-Authenticate": 'Bearer realm="train"'},
        )


_READER = {
    "reader": {"type": "http", "scheme": "bearer", "description": "PREDICTIONS_TOKEN, where PREDICTIONS_READ=token"}
}
_READ_REFUSALS = {
    401: (
        "Reader token missing or wrong (PREDICTIONS_READ=token)",
        "unauthorized",
        "send Authorization: Bearer <PREDICTIONS_TOKEN>",
    ),
    403: (
        "Reading the log is turned off (PREDICTIONS_READ=off)",
        "forbidden",
        "reading predictions is turned off on this server (PREDICTIONS_READ=off)",
    ),
}

READ = Access(authorise_read, [{}, {"reader": []}], _READER, _READ_REFUSALS)
CORRECT = Access(
    authorise_correction,
    [{}, {"reader": []}, {"corrector": []}],
    {
        **_READER,
        "corrector": {"type": "http", "scheme": "bearer", "description": "CORRECTIONS_TOKEN, where it is set"},
    },
    {
        **_READ_REFUSALS,
        401: (
            "Reader token missing or wrong (PREDICTIONS_READ=token); or, where CORRECTIONS_TOKEN is set, "
            "no Bearer CORRECTIONS_TOKEN",
            "unauthorized",
            "corrections need Authorization: Bearer <CORRECTIONS_TOKEN>",
        ),
    },
)
TRAIN = Access(
    authorise_training,
    [{"trainToken": []}, {"trainTokenHeader": []}],
    {
        "trainToken": {"type": "http", "scheme": "bearer", "description": "TRAIN_TOKEN"},
        "trainTokenHeader": {
            "type": "apiKey",
            "in": "header",
            "name": "X-Train-Token",
            "description": "TRAIN_TOKEN behind an AWS_IAM function URL",
        },
    },
    {
        401: (
            "Train token missing or wrong",
            "unauthorized",
            "send Authorization: Bearer <TRAIN_TOKEN> (or X-Train-Token)",
        ),
        503: (
            "Training is disabled (no TRAIN_TOKEN configured), or a store is unreachable (Retry-After)",
            "train_disabled",
            "training is disabled: the server has no TRAIN_TOKEN configured",
        ),
    },
)
