"""``python -m functions predict|train [--host H] [--port P]``: one function served over HTTP (scripts/serve.sh)."""

from __future__ import annotations

import importlib
import sys

FUNCTIONS = ("predict", "train")


def main(argv: list[str]) -> None:
    if not argv or argv[0] not in FUNCTIONS:
        sys.exit(f"usage: scripts/serve.sh {{{'|'.join(FUNCTIONS)}}} [--host H] [--port P]")
    from service.http.server import serve

    module = importlib.import_module(f"functions.{argv[0]}.main")  # the module Lambda and functions-framework load
    serve(module.app, argv[0], argv[1:])


if __name__ == "__main__":
    main(sys.argv[1:])
