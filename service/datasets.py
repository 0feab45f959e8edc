"""MNIST bytes from the object store (``datasets/mnist/``), for the train function in the cloud."""
from __future__ import annotations

from dataclasses import dataclass

from ml.errors import DataIntegrityError
from ml.storage.base import NotFound, ObjectStore


@dataclass(frozen=True)
class StoreSource:
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
