"""Two checkouts of this project side by side over HTTP: each one's scripts/serve.sh (two workers) loaded with
wrk, a picture as a multipart upload, interleaved repetitions, medians. For a change whose effect a profile
suggests: the same load, the same run, before and after.

    git worktree add /tmp/before <commit> && ln -s "$PWD/.venv" /tmp/before/.venv
    .venv/bin/python -m benchmarks.versions /tmp/before . [--picture tests/fixtures/golden/3_canvas.png]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
from pathlib import Path

from benchmarks import bench, load
from scripts.servers import stop
from tests.conftest import MODEL_STORE


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("checkouts", type=Path, nargs=2, help="before, after")
    parser.add_argument("--picture", type=Path, default=Path("tests/fixtures/golden/3_canvas.png"))
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    picture = args.picture.read_bytes()
    script = load.multipart_script(picture, args.picture.name, "image/png")
    runs: dict[Path, list[load.Load]] = {root.resolve(): [] for root in args.checkouts}
    for rep in range(args.reps):  # interleaved: drift hits both alike
        for root, results in runs.items():
            with tempfile.TemporaryDirectory(prefix="versions-") as tmp:
                shutil.copytree(MODEL_STORE, Path(tmp) / "store")
                env = {
                    "WORKERS": "2",
                    "MODEL_STORE": f"file://{tmp}/store",
                    "PREDICTION_LOG": f"sqlite://{tmp}/http.db",
                    "SPOOL_DIR": f"{tmp}/spool",
                    "PYTHONPATH": str(root),
                }
                proc, url = bench.serve_warm([str(root / "scripts/serve.sh"), "predict"], env, "/", picture)
                try:
                    results.append(load.run_wrk(url, script, args.clients, args.seconds, proc.pid))
                finally:
                    stop(proc)
            print(f"rep {rep + 1} {root}: {results[-1]}", flush=True)
    print(f"| checkout | req/s @{args.clients} | p99 ms | CPU ms/req |")
    print("|---|---|---|---|")
    for root, results in runs.items():
        med = lambda values: statistics.median(values)  # noqa: E731
        print(
            f"| {root} | {med(r.rps for r in results):,.0f} | {med(r.p99_ms for r in results):.1f} | "
            f"{med(r.cpu_ms_per_request for r in results):.2f} |"
        )


if __name__ == "__main__":
    main()
