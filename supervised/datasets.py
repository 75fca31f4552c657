"""MNIST and Fashion-MNIST: read IDX files, find or download them, load them like the book.

The four files of each dataset (train/test images/labels) are looked for, in this order:

1. an explicit folder (``data_dir``, the ``--data-dir`` flag of scripts/mnist.py);
2. the user cache, ``$XDG_CACHE_HOME/rlsandbox/<name>`` or ``~/.cache/rlsandbox/<name>``;
3. for Fashion-MNIST, ``/usr/share/datasets/fashion-mnist``, where Debian/Ubuntu's
   ``dataset-fashion-mnist`` package installs it;
4. a download from the usual public mirrors into the explicit folder (or else the cache),
   verified with SHA-256 and written atomically, so a partial download never looks complete.

When all of these fail, :class:`DatasetNotFoundError` lists every way to get the files.
Files may be gzip-compressed (``.gz``) or raw; a file that is not a valid IDX file raises
:class:`IdxFormatError` naming the file.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import tempfile
import urllib.request
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
from tqdm import tqdm

from fileio import atomic_write

# Folder name of this project inside the user cache.
CACHE_FOLDER = "rlsandbox"

# IDX type codes (third byte of the magic number) -> big-endian NumPy dtype.
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
IDX_CODES = {dtype.newbyteorder("="): code for code, dtype in IDX_DTYPES.items()}

# The four files of a dataset, by role.
FILE_ROLES = ("train_images", "train_labels", "test_images", "test_labels")

# Opens a URL and returns a readable binary stream (urllib.request.urlopen by default;
# tests pass their own).
Opener = Callable[[str], BinaryIO]


class DatasetError(ValueError):
    """A dataset file is missing, malformed or does not fit the dataset."""


class IdxFormatError(DatasetError):
    """A file is not a valid IDX file (bad magic number, wrong length, bad gzip)."""


class DatasetNotFoundError(DatasetError, FileNotFoundError):
    """No folder holds the dataset and it could not be downloaded."""


@dataclass(frozen=True)
class DatasetSpec:
    """Where a dataset's files come from and what they must contain."""

    name: str  # short name used on the command line and as the cache subfolder
    title: str  # human-readable name for messages
    files: dict[str, str]  # role -> gzip file name (the raw name is the same without ".gz")
    sha256: dict[str, str]  # role -> SHA-256 of the gzip file as served by the mirrors
    mirrors: tuple[str, ...]  # base URLs, tried in order
    class_names: tuple[str, ...]  # label -> name
    system_dirs: tuple[Path, ...] = ()  # folders where an OS package installs the files
    install_hint: str = ""  # a one-line command that installs it system-wide, if any
    sizes: dict[str, int] = field(default_factory=dict)  # role -> number of samples


_STANDARD_FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
_STANDARD_SIZES = {"train_images": 60000, "train_labels": 60000,
                   "test_images": 10000, "test_labels": 10000}

DATASETS: dict[str, DatasetSpec] = {
    "mnist": DatasetSpec(
        name="mnist",
        title="MNIST",
        files=_STANDARD_FILES,
        sha256={
            "train_images": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            "train_labels": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            "test_images": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            "test_labels": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        },
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
            "http://yann.lecun.com/exdb/mnist/",
        ),
        class_names=tuple(str(digit) for digit in range(10)),
        sizes=_STANDARD_SIZES,
    ),
    "fashion": DatasetSpec(
        name="fashion",
        title="Fashion-MNIST",
        files=_STANDARD_FILES,
        sha256={
            "train_images": "08dc20ab1689590a0bcd66e874647b6ee8464e2d501b5a3f1f78831db19a3fdc",
            "train_labels": "b0197879cbda89f3dc7b894f9fd52b858e68ea4182b6947c9d8c2b67e5f18dcc",
            "test_images": "78dcbbfb5a27efaf1b6c1d616caca68560be8766c5bffcb2791df9273a534229",
            "test_labels": "42bd18137a62d5998cdeae52bf3a0676ac6b706f5cf8439b47bb5b151ae3dccf",
        },
        mirrors=(
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
        ),
        class_names=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                     "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
        system_dirs=(Path("/usr/share/datasets/fashion-mnist"),),
        install_hint="sudo apt-get install dataset-fashion-mnist",
        sizes=_STANDARD_SIZES,
    ),
}
# Other spellings accepted by get_spec.
ALIASES = {"fashion-mnist": "fashion", "fashion_mnist": "fashion", "digits": "mnist"}


def get_spec(name: str) -> DatasetSpec:
    """Return the spec of a dataset by name ("mnist" or "fashion")."""
    key = ALIASES.get(name.lower(), name.lower())
    if key not in DATASETS:
        raise DatasetError(
            f"unknown dataset {name!r}: choose one of {', '.join(sorted(DATASETS))}"
        )
    return DATASETS[key]


# --------------------------------------------------------------------------- IDX format


def _read_bytes(path: Path) -> bytes:
    """Read a file, decompressing it when it starts with the gzip magic bytes."""
    raw = path.read_bytes()
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as err:
        raise IdxFormatError(
            f"{path}: bad gzip data ({err}); the file is probably truncated or corrupt: "
            "delete it and fetch it again"
        ) from err


def parse_idx(data: bytes, source: str = "<bytes>") -> np.ndarray:
    """Parse the bytes of an uncompressed IDX file into an array (native byte order)."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in IDX_DTYPES:
        raise IdxFormatError(
            f"{source}: bad magic number {data[:4].hex() or '(empty file)'}; an IDX file "
            "starts with two zero bytes, a type code (08, 09, 0b, 0c, 0d, 0e) and the "
            "number of dimensions"
        )
    dtype = IDX_DTYPES[data[2]]
    ndim = data[3]
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise IdxFormatError(
            f"{source}: wrong length: {len(data)} bytes cannot hold the header of a "
            f"{ndim}-dimensional IDX file ({header_size} bytes)"
        )
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected = header_size + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        raise IdxFormatError(
            f"{source}: wrong length: header says shape {shape} of {dtype.name} "
            f"({expected} bytes in all) but the file has {len(data)} bytes"
        )
    array = np.frombuffer(data, dtype=dtype, offset=header_size).reshape(shape)
    return array.astype(dtype.newbyteorder("="))


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file, gzip-compressed or raw, into a NumPy array."""
    path = Path(path)
    return parse_idx(_read_bytes(path), source=str(path))


def write_idx(path: str | Path, array: np.ndarray) -> Path:
    """Write an array as an IDX file, gzip-compressed when the name ends in ".gz"."""
    path = Path(path)
    array = np.asarray(array)
    native = array.dtype.newbyteorder("=")
    if native not in IDX_CODES:
        raise DatasetError(
            f"cannot write {array.dtype} to IDX: use uint8, int8, int16, int32, float32 or float64"
        )
    header = bytes([0, 0, IDX_CODES[native], array.ndim])
    header += np.asarray(array.shape, dtype=">u4").tobytes()
    body = array.astype(native.newbyteorder(">")).tobytes()
    data = header + body
    if path.suffix == ".gz":
        # mtime=0 makes the bytes (and so the checksum) independent of when they were written.
        data = gzip.compress(data, mtime=0)
    with atomic_write(path) as f:
        f.write(data)
    return path


# --------------------------------------------------------------------------- finding files


def cache_dir(name: str) -> Path:
    """The user-cache folder of a dataset: $XDG_CACHE_HOME (or ~/.cache)/rlsandbox/<name>."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / CACHE_FOLDER / get_spec(name).name


def dataset_files(folder: Path, spec: DatasetSpec) -> dict[str, Path] | None:
    """Paths of the four files in a folder (.gz or raw), or None if any is missing."""
    found = {}
    for role, gz_name in spec.files.items():
        for candidate in (folder / gz_name, folder / gz_name.removesuffix(".gz")):
            if candidate.is_file():
                found[role] = candidate
                break
        else:
            return None
    return found


def _missing_names(folder: Path, spec: DatasetSpec) -> list[str]:
    return [
        gz_name
        for gz_name in spec.files.values()
        if not (folder / gz_name).is_file()
        and not (folder / gz_name.removesuffix(".gz")).is_file()
    ]


def _sha256_of_stream(stream: BinaryIO, out: BinaryIO, chunk: int = 1 << 16) -> str:
    digest = hashlib.sha256()
    while block := stream.read(chunk):
        digest.update(block)
        out.write(block)
    return digest.hexdigest()


def _default_opener(url: str) -> BinaryIO:
    return urllib.request.urlopen(url, timeout=30)


def download(
    spec: DatasetSpec,
    folder: Path,
    mirrors: Iterable[str] | None = None,
    opener: Opener | None = None,
    progress: bool = True,
) -> dict[str, Path]:
    """Download the missing files of a dataset into a folder, verifying each SHA-256.

    Each file is streamed into a temporary file in the same folder and renamed into place
    only after its checksum matched, so an interrupted download never looks complete.
    Mirrors are tried in order per file. Raises DatasetError listing every failed attempt.
    """
    mirrors = tuple(spec.mirrors if mirrors is None else mirrors)
    opener = opener or _default_opener
    folder.mkdir(parents=True, exist_ok=True)
    missing = set(_missing_names(folder, spec))
    roles = [role for role in FILE_ROLES if spec.files[role] in missing]
    bar = tqdm(total=len(roles), desc=f"downloading {spec.title}", unit="file") \
        if progress and roles else None
    try:
        for role in roles:
            _download_file(spec, role, folder, mirrors, opener)
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    found = dataset_files(folder, spec)
    assert found is not None, "every missing file was downloaded or an error was raised"
    return found


def _download_file(spec: DatasetSpec, role: str, folder: Path, mirrors: tuple[str, ...],
                   opener: Opener) -> None:
    """Fetch one file from the first mirror that serves it with the right SHA-256."""
    name = spec.files[role]
    failures: list[str] = []
    for base in mirrors:
        url = base.rstrip("/") + "/" + name
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out, opener(url) as stream:
                digest = _sha256_of_stream(stream, out)
            if digest == spec.sha256[role]:
                os.replace(tmp, folder / name)
                return
            failures.append(f"{url}: SHA-256 {digest} does not match the expected "
                            f"{spec.sha256[role]}")
        except (OSError, http.client.HTTPException) as err:  # URLError, timeouts, disk
            failures.append(f"{url}: {err}")
        finally:
            Path(tmp).unlink(missing_ok=True)
    raise DatasetError(f"could not download {name}:\n  " + "\n  ".join(failures))


def find_dataset(
    name: str = "mnist",
    data_dir: str | Path | None = None,
    download_ok: bool = True,
    mirrors: Iterable[str] | None = None,
    opener: Opener | None = None,
    progress: bool = True,
) -> dict[str, Path]:
    """Locate (or download) the four files of a dataset; return role -> path.

    Search order: ``data_dir``, the user cache, the system folders of the OS package, then a
    download into ``data_dir`` (or the cache). Raises DatasetNotFoundError listing each way
    to provide the files when none works.
    """
    spec = get_spec(name)
    folders: list[tuple[str, Path]] = []
    if data_dir is not None:
        folders.append(("--data-dir", Path(data_dir).expanduser()))
    folders.append(("user cache", cache_dir(spec.name)))
    folders.extend(("system package folder", d) for d in spec.system_dirs)

    looked: list[str] = []
    for label, folder in folders:
        found = dataset_files(folder, spec)
        if found is not None:
            return found
        missing = _missing_names(folder, spec)
        state = "does not exist" if not folder.is_dir() else f"lacks {', '.join(missing)}"
        looked.append(f"{label} {folder}: {state}")

    target = folders[0][1]
    download_error = "skipped (downloads disabled)"
    if download_ok:
        try:
            return download(spec, target, mirrors=mirrors, opener=opener, progress=progress)
        except DatasetError as err:
            download_error = str(err)
        except OSError as err:  # e.g. the target folder cannot be created
            download_error = f"{target}: {err}"
    raise DatasetNotFoundError(_not_found_message(spec, looked, target, download_error))


def _not_found_message(spec: DatasetSpec, looked: list[str], target: Path, error: str) -> str:
    names = ", ".join(spec.files.values())
    lines = [f"{spec.title} was not found and could not be downloaded.", "", "Looked in:"]
    lines += [f"  - {entry}" for entry in looked]
    lines += ["", f"Download into {target}: " + error.replace("\n", "\n    "), "",
              "Ways to get it:"]
    if spec.install_hint:
        lines.append(f"  - install the system package (one line): {spec.install_hint}")
    lines += [
        f"  - download {names}",
        f"    from {spec.mirrors[0]} (or another mirror) into {cache_dir(spec.name)}",
        "  - or put them (gzip-compressed or not) in any folder and pass --data-dir FOLDER",
        "  - or run again with a working internet connection to download them automatically",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------- loading


@dataclass
class MnistData:
    """Train and test arrays of an MNIST-like dataset, ready for a network."""

    x_train: np.ndarray  # images, float32 in [0, 1] (or uint8 when not normalized)
    t_train: np.ndarray  # labels: int64 (N,) or one-hot float32 (N, 10)
    x_test: np.ndarray
    t_test: np.ndarray
    class_names: tuple[str, ...]  # label -> human-readable name
    name: str  # "mnist" or "fashion"
    source: Path | None = None  # folder the files were read from

    @property
    def title(self) -> str:
        """Human-readable name for plots and messages: "MNIST" or "Fashion-MNIST"."""
        return get_spec(self.name).title


LAYOUTS = ("nchw", "nhwc", "flat")


def load_mnist(
    name: str = "mnist",
    data_dir: str | Path | None = None,
    normalize: bool = True,
    layout: str = "nchw",
    one_hot: bool = False,
    download_ok: bool = True,
    progress: bool = True,
    mirrors: Iterable[str] | None = None,
    opener: Opener | None = None,
) -> MnistData:
    """Load MNIST or Fashion-MNIST like the book's ``load_mnist``.

    normalize: scale pixels to float32 in [0, 1] (else keep uint8 0..255).
    layout: "nchw" -> (N, 1, 28, 28), "nhwc" -> (N, 28, 28, 1), "flat" -> (N, 784).
    one_hot: labels as (N, 10) float32 one-hot rows instead of int64 class indices.
    """
    if layout not in LAYOUTS:
        raise DatasetError(f"unknown layout {layout!r}: choose one of {', '.join(LAYOUTS)}")
    spec = get_spec(name)
    files = find_dataset(spec.name, data_dir, download_ok=download_ok, mirrors=mirrors,
                         opener=opener, progress=progress)
    arrays = {role: read_idx(path) for role, path in files.items()}
    splits = []
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        _check_pair(files[f"{split}_images"], images, files[f"{split}_labels"], labels,
                    len(spec.class_names))
        splits.append(_prepare(images, labels, normalize, layout, one_hot,
                               len(spec.class_names)))
    (x_train, t_train), (x_test, t_test) = splits
    return MnistData(x_train, t_train, x_test, t_test, spec.class_names, spec.name,
                     files["train_images"].parent)


def _check_pair(image_path: Path, images: np.ndarray, label_path: Path, labels: np.ndarray,
                num_classes: int) -> None:
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DatasetError(f"{image_path}: expected uint8 images of shape (N, rows, cols), "
                           f"got {images.dtype} {images.shape}")
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise DatasetError(f"{label_path}: expected uint8 labels of shape (N,), "
                           f"got {labels.dtype} {labels.shape}")
    if len(images) != len(labels):
        raise DatasetError(f"{image_path} has {len(images)} images but {label_path} has "
                           f"{len(labels)} labels")
    if labels.size and labels.max() >= num_classes:
        raise DatasetError(f"{label_path}: label {labels.max()} is out of range "
                           f"0..{num_classes - 1}")


def _prepare(images: np.ndarray, labels: np.ndarray, normalize: bool, layout: str,
             one_hot: bool, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    n, rows, cols = images.shape
    x = images.astype(np.float32) / np.float32(255.0) if normalize else images.copy()
    shapes = {"nchw": (n, 1, rows, cols), "nhwc": (n, rows, cols, 1), "flat": (n, rows * cols)}
    x = x.reshape(shapes[layout])
    t = labels.astype(np.int64)
    if one_hot:
        t = to_one_hot(t, num_classes)
    return x, t


def to_one_hot(labels: np.ndarray, num_classes: int = 10) -> np.ndarray:
    """Class indices (N,) -> float32 one-hot rows (N, num_classes)."""
    labels = np.asarray(labels)
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise DatasetError(f"labels must lie in 0..{num_classes - 1}, got "
                           f"{labels.min()}..{labels.max()}")
    one_hot = np.zeros((labels.size, num_classes), dtype=np.float32)
    one_hot[np.arange(labels.size), labels.reshape(-1)] = 1.0
    return one_hot
