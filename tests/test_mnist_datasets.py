"""supervised.datasets: IDX reading, corrupt files, loader options, search order, downloads."""

from __future__ import annotations

import gzip
import hashlib
import io
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from supervised import datasets
from supervised.datasets import (
    DatasetError,
    DatasetNotFoundError,
    IdxFormatError,
    find_dataset,
    load_mnist,
    read_idx,
    write_idx,
)


def make_dataset(folder: Path, n_train: int = 20, n_test: int = 8, gz: bool = True,
                 seed: int = 0, size: int = 28) -> dict[str, np.ndarray]:
    """Write a tiny random MNIST-like dataset (four IDX files) and return its arrays."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train_images": rng.integers(0, 256, (n_train, size, size), dtype=np.uint8),
        "train_labels": rng.integers(0, 10, n_train, dtype=np.uint8),
        "test_images": rng.integers(0, 256, (n_test, size, size), dtype=np.uint8),
        "test_labels": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    for role, array in arrays.items():
        name = datasets.DATASETS["mnist"].files[role]
        write_idx(folder / (name if gz else name.removesuffix(".gz")), array)
    return arrays


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    """Every test gets an empty user cache and no system folder, so real data never leaks in."""
    cache = tmp_path / "xdg-cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    fashion = replace(datasets.DATASETS["fashion"], system_dirs=(tmp_path / "usr-share",))
    monkeypatch.setitem(datasets.DATASETS, "fashion", fashion)
    return cache


# --------------------------------------------------------------------------- IDX


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_roundtrip(tmp_path, dtype, suffix):
    array = (np.arange(2 * 3 * 4) - 5).astype(dtype).reshape(2, 3, 4)
    if dtype == np.uint8:
        array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    path = write_idx(tmp_path / f"a.idx{suffix}", array)
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype) and back.shape == (2, 3, 4)
    np.testing.assert_array_equal(back, array)


def test_idx_header_matches_the_published_format(tmp_path):
    path = write_idx(tmp_path / "labels.idx", np.array([7, 2, 1], dtype=np.uint8))
    # magic 0x00000801 (unsigned byte, one dimension), then the big-endian count, then data
    assert path.read_bytes() == bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 2, 1])
    path = write_idx(tmp_path / "shorts.idx", np.array([258], dtype=np.int16))
    assert path.read_bytes() == bytes([0, 0, 0x0B, 1, 0, 0, 0, 1, 1, 2])


def test_bad_magic_names_the_file(tmp_path):
    path = tmp_path / "bad-magic.idx"
    path.write_bytes(b"PK\x03\x04" + bytes(20))
    with pytest.raises(IdxFormatError, match=r"bad-magic.idx.*bad magic"):
        read_idx(path)
    path.write_bytes(bytes([0, 0, 0x42, 1, 0, 0, 0, 1, 0]))  # unknown type code
    with pytest.raises(IdxFormatError, match="bad magic"):
        read_idx(path)
    path.write_bytes(b"")
    with pytest.raises(IdxFormatError, match="empty file"):
        read_idx(path)


def test_wrong_length_names_the_file(tmp_path):
    path = write_idx(tmp_path / "short.idx", np.zeros((3, 4, 4), dtype=np.uint8))
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(IdxFormatError, match=r"short.idx.*wrong length.*\(3, 4, 4\)"):
        read_idx(path)
    path.write_bytes(bytes([0, 0, 8, 3, 0, 0]))  # header cut inside the dimensions
    with pytest.raises(IdxFormatError, match=r"short.idx.*wrong length"):
        read_idx(path)
    long_path = write_idx(tmp_path / "long.idx", np.zeros(5, dtype=np.uint8))
    long_path.write_bytes(long_path.read_bytes() + b"\x00")
    with pytest.raises(IdxFormatError, match=r"long.idx.*wrong length"):
        read_idx(long_path)


def test_bad_gzip_names_the_file(tmp_path):
    path = write_idx(tmp_path / "cut.idx.gz", np.zeros((50, 28, 28), dtype=np.uint8))
    path.write_bytes(path.read_bytes()[:40])  # a truncated download
    with pytest.raises(IdxFormatError, match=r"cut.idx.gz.*bad gzip"):
        read_idx(path)
    garbled = bytearray(gzip.compress(bytes(1000)))
    garbled[12:20] = b"\xff" * 8
    path.write_bytes(bytes(garbled))
    with pytest.raises(IdxFormatError, match="bad gzip"):
        read_idx(path)


def test_write_idx_rejects_unsupported_dtype(tmp_path):
    with pytest.raises(DatasetError, match="uint8"):
        write_idx(tmp_path / "x.idx", np.zeros(3, dtype=np.uint64))


# --------------------------------------------------------------------------- loader options


def test_load_options_shapes_dtypes_and_values(tmp_path):
    arrays = make_dataset(tmp_path, n_train=12, n_test=5)
    data = load_mnist("mnist", data_dir=tmp_path, download_ok=False)
    assert data.x_train.shape == (12, 1, 28, 28) and data.x_train.dtype == np.float32
    assert 0.0 <= data.x_train.min() and data.x_train.max() <= 1.0
    np.testing.assert_allclose(data.x_train[:, 0] * 255, arrays["train_images"], atol=1e-3)
    assert data.t_train.dtype == np.int64
    np.testing.assert_array_equal(data.t_test, arrays["test_labels"])
    assert data.source == tmp_path and data.class_names[3] == "3" and data.title == "MNIST"

    flat = load_mnist("mnist", data_dir=tmp_path, layout="flat", normalize=False, one_hot=True,
                      download_ok=False)
    assert flat.x_test.shape == (5, 784) and flat.x_test.dtype == np.uint8
    np.testing.assert_array_equal(flat.x_test, arrays["test_images"].reshape(5, 784))
    assert flat.t_train.shape == (12, 10) and flat.t_train.dtype == np.float32
    np.testing.assert_array_equal(flat.t_train.argmax(axis=1), arrays["train_labels"])
    assert np.all(flat.t_train.sum(axis=1) == 1)

    nhwc = load_mnist("mnist", data_dir=tmp_path, layout="nhwc", download_ok=False)
    assert nhwc.x_train.shape == (12, 28, 28, 1)
    np.testing.assert_array_equal(nhwc.x_train[..., 0], data.x_train[:, 0])

    with pytest.raises(DatasetError, match="layout"):
        load_mnist("mnist", data_dir=tmp_path, layout="chw", download_ok=False)


def test_raw_and_gzip_files_load_the_same(tmp_path):
    make_dataset(tmp_path / "gz", gz=True, seed=3)
    make_dataset(tmp_path / "raw", gz=False, seed=3)
    a = load_mnist(data_dir=tmp_path / "gz", download_ok=False)
    b = load_mnist(data_dir=tmp_path / "raw", download_ok=False)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    np.testing.assert_array_equal(a.t_test, b.t_test)


def test_mismatched_or_invalid_files_are_named(tmp_path):
    make_dataset(tmp_path, n_train=10)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(9, dtype=np.uint8))
    with pytest.raises(DatasetError, match=r"10 images.*train-labels-idx1-ubyte.gz.*9 labels"):
        load_mnist(data_dir=tmp_path, download_ok=False)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.full(10, 12, dtype=np.uint8))
    with pytest.raises(DatasetError, match=r"train-labels.*label 12 is out of range"):
        load_mnist(data_dir=tmp_path, download_ok=False)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(10, dtype=np.uint8))
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", np.zeros((8, 784), dtype=np.uint8))
    with pytest.raises(DatasetError, match=r"t10k-images.*shape"):
        load_mnist(data_dir=tmp_path, download_ok=False)


def test_unknown_dataset_name():
    with pytest.raises(DatasetError, match=r"unknown dataset 'cifar'.*fashion, mnist"):
        load_mnist("cifar")
    assert datasets.get_spec("Fashion-MNIST").name == "fashion"


def test_one_hot_rejects_out_of_range():
    np.testing.assert_array_equal(datasets.to_one_hot(np.array([2, 0]), 3),
                                  [[0, 0, 1], [1, 0, 0]])
    with pytest.raises(DatasetError, match=r"0\.\.2"):
        datasets.to_one_hot(np.array([3]), 3)


# --------------------------------------------------------------------------- search order


def test_cache_dir_follows_xdg_then_home(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert datasets.cache_dir("fashion") == tmp_path / "x" / "rlsandbox" / "fashion"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert datasets.cache_dir("mnist") == tmp_path / "home" / ".cache" / "rlsandbox" / "mnist"


def test_search_order_data_dir_then_cache_then_system(tmp_path, isolated_cache):
    explicit, system = tmp_path / "explicit", tmp_path / "usr-share"
    cache = isolated_cache / "rlsandbox" / "fashion"
    for folder, seed in ((explicit, 1), (cache, 2), (system, 3)):
        make_dataset(folder, seed=seed)

    def source(data_dir=None):
        return find_dataset("fashion", data_dir=data_dir, download_ok=False)["train_images"].parent

    assert source(explicit) == explicit
    assert source() == cache
    for path in cache.iterdir():
        path.unlink()
    assert source() == system
    # an explicit folder without the files falls through to the next places
    assert source(tmp_path / "empty") == system


def test_incomplete_folder_is_skipped(tmp_path, isolated_cache):
    make_dataset(tmp_path / "usr-share")
    cache = isolated_cache / "rlsandbox" / "fashion"
    make_dataset(cache)
    (cache / "t10k-labels-idx1-ubyte.gz").unlink()
    found = find_dataset("fashion", download_ok=False)
    assert found["test_labels"].parent == tmp_path / "usr-share"


def test_offline_error_lists_every_way(tmp_path, isolated_cache):
    def offline(url):
        raise OSError(f"network is unreachable ({url})")

    with pytest.raises(DatasetNotFoundError) as info:
        load_mnist("fashion", data_dir=tmp_path / "mine", opener=offline, progress=False)
    message = str(info.value)
    assert "Fashion-MNIST was not found" in message
    assert f"--data-dir {tmp_path / 'mine'}: does not exist" in message
    assert str(isolated_cache / "rlsandbox" / "fashion") in message
    assert str(tmp_path / "usr-share") in message
    assert "network is unreachable" in message
    assert "sudo apt-get install dataset-fashion-mnist" in message
    assert "train-images-idx3-ubyte.gz" in message and "--data-dir FOLDER" in message
    assert isinstance(info.value, FileNotFoundError)

    with pytest.raises(DatasetNotFoundError) as info:
        load_mnist("mnist", download_ok=False)
    assert "apt-get" not in str(info.value) and "downloads disabled" in str(info.value)


# --------------------------------------------------------------------------- downloads


def served_files(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A fake mirror folder holding a tiny dataset, and the SHA-256 of each file."""
    mirror = tmp_path / "mirror"
    make_dataset(mirror, seed=5)
    sums = {role: hashlib.sha256((mirror / name).read_bytes()).hexdigest()
            for role, name in datasets.DATASETS["mnist"].files.items()}
    return mirror, sums


def test_download_from_file_url_into_cache(tmp_path, isolated_cache, monkeypatch):
    mirror, sums = served_files(tmp_path)
    spec = replace(datasets.DATASETS["mnist"], sha256=sums,
                   mirrors=("file:///nonexistent-mirror/", mirror.as_uri() + "/"))
    monkeypatch.setitem(datasets.DATASETS, "mnist", spec)
    data = load_mnist("mnist", progress=False)
    cache = isolated_cache / "rlsandbox" / "mnist"
    assert data.source == cache
    assert sorted(p.name for p in cache.iterdir()) == sorted(spec.files.values())
    np.testing.assert_array_equal(data.t_train, read_idx(mirror / "train-labels-idx1-ubyte.gz"))
    # a second load finds the cache and does not touch the network
    again = load_mnist("mnist", opener=lambda url: pytest.fail(f"downloaded {url}"))
    np.testing.assert_array_equal(again.x_test, data.x_test)


def test_download_rejects_a_bad_checksum_and_leaves_nothing(tmp_path, monkeypatch):
    mirror, sums = served_files(tmp_path)
    sums["test_images"] = "0" * 64
    spec = replace(datasets.DATASETS["mnist"], sha256=sums, mirrors=(mirror.as_uri(),))
    monkeypatch.setitem(datasets.DATASETS, "mnist", spec)
    target = tmp_path / "target"
    with pytest.raises(DatasetNotFoundError, match=r"t10k-images.*SHA-256.*does not match"):
        load_mnist("mnist", data_dir=target, progress=False)
    names = sorted(p.name for p in target.iterdir())
    assert "t10k-images-idx3-ubyte.gz" not in names
    assert not [n for n in names if n.endswith(".part")]


def test_interrupted_download_never_looks_complete(tmp_path, monkeypatch):
    mirror, sums = served_files(tmp_path)
    spec = replace(datasets.DATASETS["mnist"], sha256=sums, mirrors=("https://example.org/",))
    monkeypatch.setitem(datasets.DATASETS, "mnist", spec)

    class Broken(io.BytesIO):
        def read(self, size=-1):
            if self.tell() > 100:
                raise ConnectionResetError("connection reset by peer")
            return super().read(min(size, 64))

    def opener(url):
        return Broken((mirror / url.rsplit("/", 1)[1]).read_bytes())

    target = tmp_path / "target"
    with pytest.raises(DatasetNotFoundError, match="connection reset"):
        load_mnist("mnist", data_dir=target, opener=opener, progress=False)
    # train images come first and broke mid-stream: no partial file, no leftover .part
    assert list(target.iterdir()) == []

    # the next run completes the download with a working connection
    data = load_mnist("mnist", data_dir=target, opener=lambda url: io.BytesIO(
        (mirror / url.rsplit("/", 1)[1]).read_bytes()), progress=False)
    assert data.x_train.shape == (20, 1, 28, 28)


def test_a_mirror_with_wrong_bytes_is_skipped_for_the_next(tmp_path, monkeypatch):
    good, sums = served_files(tmp_path)
    bad = tmp_path / "bad-mirror"
    make_dataset(bad, seed=99)  # valid IDX files, but not the ones the checksums describe
    spec = replace(datasets.DATASETS["mnist"], sha256=sums,
                   mirrors=(bad.as_uri() + "/", good.as_uri() + "/"))
    monkeypatch.setitem(datasets.DATASETS, "mnist", spec)
    data = load_mnist("mnist", data_dir=tmp_path / "target", progress=False)
    np.testing.assert_array_equal(data.t_test, read_idx(good / "t10k-labels-idx1-ubyte.gz"))
