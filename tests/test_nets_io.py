"""nets.io: saving and loading models (round trips, clear errors); the file format is
fileio's (tests/test_fileio.py)."""

import numpy as np
import pytest

import fileio
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


def test_mismatched_checkpoint_names_the_parameters(tmp_path):
    io.save(tmp_path / "small.npz", model(hidden=6))
    arrays, meta = fileio.load_arrays(tmp_path / "small.npz")
    meta["config"]["layers"][-1][1]["out_features"] = 7  # architecture says 7, weights say 6
    fileio.save_arrays(tmp_path / "bad.npz", arrays, meta)
    with pytest.raises(nets.CheckpointError, match=r"bad\.npz.*fc1\.W"):
        io.load(tmp_path / "bad.npz")
    with pytest.raises(nets.CheckpointError, match=r"fc1\.b"):
        model(hidden=7).load_state_dict(model(hidden=6).state_dict())


def test_an_unreadable_model_file_raises_checkpoint_error_naming_the_file(tmp_path):
    path = io.save(tmp_path / "broken.npz", model())
    path.write_bytes(path.read_bytes()[:100])  # the damaged files themselves: tests/test_fileio.py
    with pytest.raises(nets.CheckpointError, match=r"broken\.npz"):
        io.load(path)


def test_an_archive_that_is_not_a_model_file_is_rejected(tmp_path):
    fileio.save_arrays(tmp_path / "arrays.npz", {"a": np.ones(1)}, {"kind": "replay"})
    with pytest.raises(nets.CheckpointError, match="not a model file"):
        io.load(tmp_path / "arrays.npz")
