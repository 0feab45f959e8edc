"""Generated outputs committed so that a change to them shows in review. ``python -m tests.snapshots``
writes them again from the code; tests compare the code's output with them."""

from __future__ import annotations

import json
from pathlib import Path

SNAPSHOTS = Path(__file__).resolve().parent


def write() -> None:
    from service.predict.app import DOCUMENT as PREDICT_DOCUMENT
    from service.train.app import DOCUMENT as TRAIN_DOCUMENT

    for function, document in (("predict", PREDICT_DOCUMENT), ("train", TRAIN_DOCUMENT)):
        path = SNAPSHOTS / f"openapi-{function}.json"
        path.write_text(json.dumps(document, indent=1) + "\n")
        print(f"wrote {path}")
