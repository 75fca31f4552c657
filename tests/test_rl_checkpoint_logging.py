"""rl.checkpoint (atomic npz + JSON, clear errors) and rl.logging.CsvLogger."""

import json
import zipfile

import numpy as np
import pytest

from rl.checkpoint import CheckpointError, load_checkpoint, load_checkpoint_meta, save_checkpoint
from rl.logging import CsvLogger, read_metrics, read_rows


def test_round_trip_keeps_arrays_dtypes_and_meta(tmp_path):
    arrays = {
        "agent/q": np.arange(6, dtype=np.float32).reshape(2, 3),
        "obs": np.array([[1, 2]], dtype=np.uint8),
        "flags": np.array([True, False]),
    }
    meta = {"step": 3, "rng": {"state": 2**100}, "name": "ε-greedy", "nested": [1, 2.5]}
    path = save_checkpoint(tmp_path / "c.npz", arrays, meta)
    loaded, loaded_meta = load_checkpoint(path)
    assert loaded_meta == meta
    assert loaded.keys() == arrays.keys()
    for name, value in arrays.items():
        assert loaded[name].dtype == value.dtype
        assert np.array_equal(loaded[name], value)


def test_save_replaces_atomically_and_leaves_no_temp_files(tmp_path):
    path = tmp_path / "c.npz"
    save_checkpoint(path, {"a": np.zeros(2)}, {"v": 1})
    save_checkpoint(path, {"a": np.ones(2)}, {"v": 2})
    assert load_checkpoint(path)[1] == {"v": 2}
    # A save that fails half-way (meta not JSON-able) leaves the previous file untouched.
    with pytest.raises(TypeError, match="not JSON-serialisable"):
        save_checkpoint(path, {"a": np.full(2, 7.0)}, {"v": object()})
    with pytest.raises(TypeError, match="dtype object"):
        save_checkpoint(path, {"a": np.array([{}, 1], dtype=object)}, {"v": 3})
    arrays, meta = load_checkpoint(path)
    assert meta == {"v": 2} and np.array_equal(arrays["a"], np.ones(2))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.npz"]


def test_meta_alone_reads_without_the_arrays(tmp_path):
    path = save_checkpoint(tmp_path / "c.npz", {"big": np.zeros(10_000)}, {"loop": {"step": 7}})
    assert load_checkpoint_meta(path) == {"loop": {"step": 7}}
    path.write_bytes(b"junk")
    with pytest.raises(CheckpointError, match=r"c\.npz: cannot read the checkpoint metadata"):
        load_checkpoint_meta(path)


def test_truncated_file_is_a_clear_error_naming_it(tmp_path):
    path = save_checkpoint(tmp_path / "c.npz", {"a": np.arange(1000.0)}, {"v": 1})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"c\.npz: not a readable \.npz archive \(truncated"):
        load_checkpoint(path)


def test_garbage_and_foreign_files_are_clear_errors(tmp_path):
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"this is not a zip file")
    with pytest.raises(CheckpointError, match=r"garbage\.npz"):
        load_checkpoint(garbage)
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, a=np.zeros(3))
    with pytest.raises(CheckpointError, match=r"foreign\.npz: no '__meta__' entry"):
        load_checkpoint(foreign)
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, a=np.array([{"x": 1}], dtype=object))
    with pytest.raises(CheckpointError, match=r"pickled\.npz"):
        load_checkpoint(pickled)
    other_format = tmp_path / "other.npz"
    header = json.dumps({"format": "something-else", "meta": {}})
    np.savez(other_format, __meta__=np.array(header))
    with pytest.raises(CheckpointError, match="not an rl-checkpoint file"):
        load_checkpoint(other_format)
    with pytest.raises(FileNotFoundError, match=r"missing\.npz"):
        load_checkpoint(tmp_path / "missing.npz")


def test_a_flipped_byte_in_the_data_is_caught(tmp_path):
    path = save_checkpoint(tmp_path / "c.npz", {"a": np.arange(500.0)}, {"v": 1})
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("a.npy")
    data = bytearray(path.read_bytes())
    data[info.header_offset + 200] ^= 0xFF  # inside the stored array bytes
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"c\.npz"):
        load_checkpoint(path)


def test_csv_logger_grows_columns_and_keeps_leading_order(tmp_path):
    path = tmp_path / "m.csv"
    with CsvLogger(path) as logger:
        logger.log({"step": 1, "episode": 1, "episode_return": 2.5})
        logger.log({"step": 2, "loss": 0.25})
        logger.log({"step": 3, "eval_return_mean": 1.0, "eval_return_std": 0.5})
        assert logger.rows_written == 3
    header = path.read_text().splitlines()[0].split(",")
    assert header == ["step", "episode", "episode_return", "eval_return_mean", "eval_return_std",
                      "loss"]
    assert read_rows(path) == [
        {"step": 1, "episode": 1, "episode_return": 2.5},
        {"step": 2, "loss": 0.25},
        {"step": 3, "eval_return_mean": 1.0, "eval_return_std": 0.5},
    ]
    columns = read_metrics(path)
    assert np.isnan(columns["loss"][[0, 2]]).all() and columns["loss"][1] == 0.25


def test_csv_logger_keeps_rows_on_resume_and_floats_exactly(tmp_path):
    path = tmp_path / "m.csv"
    with CsvLogger(path) as logger:
        for step in range(5):
            logger.log({"step": step, "x": 0.1 * step + 1e-17})
    with CsvLogger(path, keep_rows=3) as logger:
        logger.log({"step": 99, "x": np.float32(0.5)})
    rows = read_rows(path)
    assert [r["step"] for r in rows] == [0, 1, 2, 99]
    assert rows[2]["x"] == 0.1 * 2 + 1e-17
    with pytest.raises(ValueError, match="4 rows but 10 were expected"):
        CsvLogger(path, keep_rows=10)
