"""Fuzz preprocessing with atheris (libFuzzer) for a fixed number of executions.

Only our named errors (ml.errors.MLError) may come out of ``preprocess``; any
other exception is a crash and fails the run. Seeds: the golden images.

    .venv/bin/python benchmarks/fuzz_preprocess.py [-runs=20000]

libFuzzer's default 2 GB RSS limit trips after a few thousand runs: the fuzzing
process itself grows (preprocess alone stays at ~73 MB over 3,000 mutated
inputs, measured), so the default arguments raise it.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import atheris

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

with atheris.instrument_imports():
    from ml.errors import MLError
    from ml.preprocess import preprocess


def one_input(data: bytes) -> None:
    try:
        preprocess(data, max_pixels=4_000_000)
    except MLError:
        pass


def main() -> None:
    args = sys.argv[1:] or ["-runs=20000", "-rss_limit_mb=8192"]
    corpus = Path(tempfile.mkdtemp(prefix="fuzz-corpus-"))
    for path in (ROOT / "tests" / "fixtures" / "golden").glob("*_canvas.png"):
        (corpus / path.name).write_bytes(path.read_bytes())
    print(f"fuzzing preprocess: {' '.join(args)}, seeds: {corpus}", flush=True)
    atheris.Setup([sys.argv[0], "-max_len=65536", *args, str(corpus)], one_input)
    atheris.Fuzz()  # libFuzzer prints "Done N runs in S second(s)" and exits; a crash exits non-zero


if __name__ == "__main__":
    main()
