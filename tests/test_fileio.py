"""fileio: .npz archives with JSON metadata, atomic writes, JSON, clear errors."""

import numpy as np
import pytest

import fileio
import nets


def test_save_arrays_round_trip(tmp_path):
    arrays = {"q": np.arange(6, dtype=np.uint8).reshape(2, 3), "w": np.ones(2, np.float32)}
    fileio.save_arrays(tmp_path / "sub" / "ckpt.npz", arrays, {"step": 7, "names": ["a"]})
    loaded, meta = fileio.load_arrays(tmp_path / "sub" / "ckpt.npz")
    assert meta == {"step": 7, "names": ["a"]}
    assert loaded.keys() == arrays.keys()
    for key in arrays:
        assert loaded[key].dtype == arrays[key].dtype
        np.testing.assert_array_equal(loaded[key], arrays[key])


def test_overwrite_is_atomic_and_keeps_the_old_file_if_writing_fails(tmp_path):
    path = tmp_path / "ckpt.npz"
    fileio.save_arrays(path, {"a": np.ones(2)}, {"v": 1})
    with pytest.raises(TypeError, match="JSON"):
        fileio.save_arrays(path, {"a": np.zeros(2)}, {"v": object()})
    arrays, meta = fileio.load_arrays(path)
    assert meta == {"v": 1} and arrays["a"].tolist() == [1.0, 1.0]
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.npz"]  # no temp files left


@pytest.mark.parametrize("damage", ["truncated", "text", "npy", "pickle", "missing", "no_meta"])
def test_unreadable_files_raise_checkpoint_error_naming_the_file(tmp_path, damage):
    path = tmp_path / "broken.npz"
    fileio.save_arrays(path, {"a": np.arange(1000.0)}, {"v": 1})
    data = path.read_bytes()
    if damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "text":
        path.write_text("not a checkpoint")
    elif damage == "npy":
        with open(path, "wb") as file:
            np.save(file, np.ones(3))
    elif damage == "pickle":
        np.savez(tmp_path / "broken", a=np.array([{"code": 1}], dtype=object))
    elif damage == "missing":
        path.unlink()
    elif damage == "no_meta":
        np.savez(tmp_path / "broken", a=np.ones(2))
    with pytest.raises(fileio.CheckpointError, match=r"broken\.npz"):
        fileio.load_arrays(path)


def test_the_metadata_key_is_reserved(tmp_path):
    with pytest.raises(ValueError, match="reserved"):
        fileio.save_arrays(tmp_path / "x.npz", {"__meta__": np.ones(1)}, {})


def test_write_json_converts_numpy_values_and_paths(tmp_path):
    path = fileio.write_json(tmp_path / "h.json", {"a": np.float32(0.5), "b": np.arange(2),
                                                   "p": tmp_path})
    assert path.read_text() == (
        '{\n  "a": 0.5,\n  "b": [\n    0,\n    1\n  ],\n  "p": "' + str(tmp_path) + '"\n}\n')


def test_an_interrupted_atomic_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("old\n")
    with pytest.raises(KeyboardInterrupt), fileio.atomic_write(path, "w") as file:
        file.write("new, half written")
        raise KeyboardInterrupt
    assert path.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()] == ["log.csv"]


def test_one_checkpoint_error_for_files_and_state_dicts():
    assert nets.CheckpointError is nets.errors.CheckpointError is fileio.CheckpointError
    assert issubclass(fileio.CheckpointError, ValueError)
