"""Build the shared Lambda layer: ``build/layer.zip`` with the ``python/`` layout.

The dependencies are downloaded as manylinux x86_64 wheels for the Lambda
runtime's Python (not this machine's), then our own packages are added.
Prints the unzipped size and fails above Lambda's unzipped-size limit (LAMBDA_LIMIT).

    python layers/build.py [--python 3.12] [--out build]
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PLATFORMS = (
    "manylinux2014_x86_64",
    "manylinux_2_24_x86_64",
    "manylinux_2_27_x86_64",
    "manylinux_2_28_x86_64",
    "manylinux_2_34_x86_64",  # AL2023 (python3.12 runtime): glibc 2.34
)
PACKAGES = ("ml", "service")
LAMBDA_LIMIT = 250 * 1024 * 1024
TARGET = 150 * 1024 * 1024
PRUNE_DIRS = ("__pycache__", "tests")
# Subpackages the predict path imports of packages it uses only a part of (none left: scipy.ndimage
# was the last, replaced by ml/morphology.py).
KEEP: dict[str, set[str]] = {}
# LiteRT's GPU accelerator, NPU vendor plugins, command-line tools and the CompiledModel
# runtime (libLiteRt.so): the classic Interpreter on CPU needs none of them (checked by
# tests/unit/test_deployment.py running the golden images from the pruned layer).
DROP = (
    "ai_edge_litert/libLiteRtWebGpuAccelerator.so",
    "ai_edge_litert/libLiteRt.so",
    "ai_edge_litert/tools",
    "ai_edge_litert/vendors",
)


def tree_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def runtime_interpreter(version: str) -> str | None:
    """A Python of ``version`` that runs here: this one, one on PATH, or one pyenv installed."""
    candidates = [sys.executable] if version == f"{sys.version_info.major}.{sys.version_info.minor}" else []
    candidates += [shutil.which(f"python{version}") or ""]
    candidates += sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/{version}.*/bin/python{version}")))
    for candidate in filter(None, candidates):
        probe = subprocess.run(
            [candidate, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True, text=True
        )
        if probe.returncode == 0 and probe.stdout.strip() == str(tuple(int(v) for v in version.split("."))):
            return candidate
    return None


def precompile(site: Path, python: str) -> None:
    """Ship bytecode: Lambda's /opt is read-only, so a layer without it compiles every module it imports on
    every cold start (benchmarks/lambda_cold_start.py measures it). Compiled by an interpreter of the runtime's version (bytecode is
    version-specific), as unchecked-hash .pyc files: valid whatever mtimes the zip extraction gives."""
    interpreter = runtime_interpreter(python)
    if interpreter is None:
        print(
            f"WARNING: no python{python} here: the layer ships without bytecode (slower cold starts)", file=sys.stderr
        )
        return
    subprocess.run(
        [interpreter, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash", str(site)],
        check=True,
    )


def build(python: str, out: Path) -> tuple[Path, int]:
    staging = out / "layer"
    shutil.rmtree(staging, ignore_errors=True)
    site = staging / "python"
    site.mkdir(parents=True)
    platform_args = [arg for p in PLATFORMS for arg in ("--platform", p)]
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-compile",
            "--only-binary=:all:",
            "--implementation",
            "cp",
            "--python-version",
            python,
            *platform_args,
            "--target",
            str(site),
            "--require-hashes",
            "--no-deps",
            "-r",
            str(ROOT / "requirements" / "layer.txt"),
        ],
        check=True,
    )
    for package in PACKAGES:
        shutil.copytree(ROOT / package, site / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for package, keep in KEEP.items():
        for path in (site / package).iterdir():
            if path.is_dir() and path.name not in keep:
                shutil.rmtree(path)
    for relative in DROP:
        path = site / relative
        shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    for pattern in PRUNE_DIRS:
        for path in list(site.rglob(pattern)):
            if path.is_dir() and path.parent.name not in PACKAGES:
                shutil.rmtree(path, ignore_errors=True)
    precompile(site, python)
    archive = out / "layer.zip"
    archive.unlink(missing_ok=True)
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(staging.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(staging).as_posix())
    return archive, tree_size(staging)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default="3.12", help="the Lambda runtime's Python version")
    parser.add_argument("--out", type=Path, default=ROOT / "build")
    args = parser.parse_args()
    archive, unzipped = build(args.python, args.out)
    print(
        f"{archive}: {archive.stat().st_size / 2**20:.1f} MiB zipped, {unzipped / 2**20:.1f} MiB unzipped "
        f"(Lambda limit 250 MiB for function + layers; our target 150 MiB)"
    )
    biggest = sorted(
        ((tree_size(p), p.name) for p in (args.out / "layer" / "python").iterdir() if p.is_dir()), reverse=True
    )
    for size, name in biggest[:8]:
        print(f"  {size / 2**20:7.1f} MiB  {name}")
    if unzipped > LAMBDA_LIMIT:
        print("FAIL: over Lambda's 250 MiB unzipped limit", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
