"""The same work behind BentoML (in its own venv, never a dependency of ours; `make bench` builds it):

var/bench/bentoml/bin/bentoml serve benchmarks.peers.bento_service:Digits --port 3000
curl -F file=@digit.png localhost:3000/predict
"""

from __future__ import annotations

from pathlib import Path

import bentoml

from benchmarks.peers.work import answer, load_predictor


@bentoml.service(workers=2, logging={"access": {"enabled": False}})
class Digits:
    def __init__(self) -> None:
        self.predictor = load_predictor()

    @bentoml.api
    def predict(self, file: Path) -> dict:
        import json

        return json.loads(answer(self.predictor, file.read_bytes()))
