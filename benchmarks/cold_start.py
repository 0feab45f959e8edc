"""Cold start alone (the section of `make bench` that times it): `scripts/serve.sh predict` started, then
the first 28x28 PNG answered over HTTP, five times on the file store and five on S3 (SeaweedFS).

    .venv/bin/python benchmarks/cold_start.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import bench  # noqa: E402
from ml import mnist  # noqa: E402


def main() -> None:
    pictures = bench.images(mnist.load(mnist.DirectorySource(ROOT / "data" / "mnist")))
    with tempfile.TemporaryDirectory() as tmp:
        bench.cold_start(pictures, Path(tmp), 5)


if __name__ == "__main__":
    main()
