"""Run the predict path from a built layer alone (``python -S``, PYTHONPATH=<layer>/python):
golden images through preprocessing and the shipped model. Proves the pruned layer is
complete. Prints one JSON line.

    PYTHONPATH=build/layer/python python -S layers/check_layer.py .
"""

# ruff: noqa: E402  (the imports after the clock starts are what it times)
import json
import sys
import time
from pathlib import Path

t = time.perf_counter()
import service.predict.app  # noqa: F401  (the predict path imports them)
from ml.predictor import Predictor
from ml.preprocess import preprocess
from ml.registry import ModelRegistry
from ml.storage.filestore import FileObjectStore

root = Path(sys.argv[1])
r = ModelRegistry(FileObjectStore(root / "tests/fixtures/modelstore"))
p = Predictor(r.load(r.latest_version(), files=("model.tflite",)))
wrong = [
    f.name
    for f in sorted((root / "tests/fixtures/golden").iterdir())
    if p.predict(preprocess(f.read_bytes())[None])[0].digit != int(f.name[0])
]
print(
    json.dumps(
        {
            "wrong": wrong,
            "tensorflow": "tensorflow" in sys.modules,
            "flask": "flask" in sys.modules,
            "scipy": "scipy" in sys.modules,
            "werkzeug": "werkzeug" in sys.modules,
            "prometheus_client": "prometheus_client" in sys.modules,
            "seconds": round(time.perf_counter() - t, 2),
        }
    )
)
