"""Saving and loading models and arrays: round trips, atomic writes, clear errors."""

import numpy as np
import pytest

import nets
from nets import io


def model(seed=0, hidden=6):
    rng = np.random.default_rng(seed)
    return nets.Sequential([("conv1", nets.Conv2D(1, 2, 3, rng=rng)), ("bn1", nets.BatchNorm(2)),
                            ("relu1", nets.ReLU()), ("flatten", nets.Flatten()),
                            ("fc1", nets.Dense(2 * 4 * 4, hidden, rng=rng))])


X = np.random.default_rng(1).random((3, 1, 6, 6), dtype=np.float32)


def test_save_load_round_trip_gives_identical_outputs(tmp_path):
    original = model()
    original.forward(X, train=True)  # non-trivial BatchNorm running statistics
    path = io.save(tmp_path / "model.npz", original, extra={"epoch": 3, "accuracy": 0.9})
    loaded, extra = io.load(path)
    assert extra == {"epoch": 3, "accuracy": 0.9}
    np.testing.assert_array_equal(loaded.predict(X), original.predict(X))
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]  # no temp files left


def test_save_arrays_round_trip(tmp_path):
    arrays = {"q": np.arange(6, dtype=np.uint8).reshape(2, 3), "w": np.ones(2, np.float32)}
    io.save_arrays(tmp_path / "sub" / "ckpt.npz", arrays, {"step": 7, "names": ["a"]})
    loaded, meta = io.load_arrays(tmp_path / "sub" / "ckpt.npz")
    assert meta == {"step": 7, "names": ["a"]}
    assert loaded.keys() == arrays.keys()
    for key in arrays:
        assert loaded[key].dtype == arrays[key].dtype
        np.testing.assert_array_equal(loaded[key], arrays[key])


def test_overwrite_is_atomic_and_keeps_the_old_file_if_writing_fails(tmp_path):
    path = tmp_path / "ckpt.npz"
    io.save_arrays(path, {"a": np.ones(2)}, {"v": 1})
    with pytest.raises(TypeError, match="JSON"):
        io.save_arrays(path, {"a": np.zeros(2)}, {"v": object()})
    arrays, meta = io.load_arrays(path)
    assert meta == {"v": 1} and arrays["a"].tolist() == [1.0, 1.0]


def test_mismatched_checkpoint_names_the_parameters(tmp_path):
    io.save(tmp_path / "small.npz", model(hidden=6))
    arrays, meta = io.load_arrays(tmp_path / "small.npz")
    meta["config"]["layers"][-1][1]["out_features"] = 7  # architecture says 7, weights say 6
    io.save_arrays(tmp_path / "bad.npz", arrays, meta)
    with pytest.raises(io.CheckpointError, match=r"bad\.npz.*fc1\.W"):
        io.load(tmp_path / "bad.npz")
    with pytest.raises(nets.CheckpointError, match=r"fc1\.b"):
        model(hidden=7).load_state_dict(model(hidden=6).state_dict())


@pytest.mark.parametrize("damage", ["truncated", "text", "npy", "pickle", "missing", "no_meta"])
def test_unreadable_files_raise_checkpoint_error_naming_the_file(tmp_path, damage):
    path = tmp_path / "broken.npz"
    io.save(path, model())
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
    with pytest.raises(io.CheckpointError, match=r"broken\.npz"):
        io.load(path)
    assert issubclass(io.CheckpointError, ValueError)


def test_reserved_and_unknown_content_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="reserved"):
        io.save_arrays(tmp_path / "x.npz", {"__meta__": np.ones(1)}, {})
    io.save_arrays(tmp_path / "arrays.npz", {"a": np.ones(1)}, {"kind": "replay"})
    with pytest.raises(io.CheckpointError, match="not a model file"):
        io.load(tmp_path / "arrays.npz")
