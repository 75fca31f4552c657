"""scripts/bench_nets.py's thread counts: numpy's BLAS read from the environment when
threadpoolctl is missing, and no speed ratio when the two libraries' counts differ."""

import json
import sys

import pytest

from scripts import bench_nets
from scripts.bench_nets import ratio_note, threads_from_environment


def test_openblas_num_threads_is_the_count():
    assert threads_from_environment({"OPENBLAS_NUM_THREADS": "1"}, cpus=2) == (
        1, "OPENBLAS_NUM_THREADS=1")


def test_without_a_variable_the_blas_starts_one_thread_per_cpu():
    threads, source = threads_from_environment({}, cpus=2)
    assert threads == 2 and "CPU count" in source


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        # OpenBLAS reads its own variable first, then GOTO_NUM_THREADS, then OpenMP's.
        ({"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "2"}, 1),
        ({"GOTO_NUM_THREADS": "3", "OMP_NUM_THREADS": "2"}, 3),
        ({"OMP_NUM_THREADS": "2"}, 2),
        ({"OMP_NUM_THREADS": "3,1"}, 3),  # an OpenMP list: the outer level counts
        ({"OPENBLAS_NUM_THREADS": " 2 "}, 2),
        # 0, negative, empty or unreadable values count as unset.
        ({"OPENBLAS_NUM_THREADS": "0", "OMP_NUM_THREADS": "2"}, 2),
        ({"OPENBLAS_NUM_THREADS": "-1"}, 4),
        ({"OPENBLAS_NUM_THREADS": "", "OMP_NUM_THREADS": "one"}, 4),
        ({"OPENBLAS_NUM_THREADS": "16"}, 4),  # capped at the CPU count, as OpenBLAS does
        ({"MKL_NUM_THREADS": "1"}, 4),  # another library's variable
    ],
)
def test_openblas_reads_its_variables_in_order(environ, expected):
    assert threads_from_environment(environ, cpus=4, blas="scipy-openblas")[0] == expected


def test_other_libraries_read_their_own_variables():
    environ = {"OPENBLAS_NUM_THREADS": "3", "MKL_NUM_THREADS": "1", "OMP_NUM_THREADS": "2"}
    assert threads_from_environment(environ, cpus=4, blas="mkl") == (1, "MKL_NUM_THREADS=1")
    assert threads_from_environment({"OMP_NUM_THREADS": "2"}, cpus=4, blas="mkl")[0] == 2
    assert threads_from_environment({"VECLIB_MAXIMUM_THREADS": "1"}, 4, "accelerate")[0] == 1
    # An unknown library: any library's variable, OpenBLAS's first.
    assert threads_from_environment(environ, cpus=4, blas="")[0] == 3
    assert threads_from_environment({"BLIS_NUM_THREADS": "2"}, cpus=4, blas="")[0] == 2


def test_blas_info_without_threadpoolctl_honours_openblas_num_threads(monkeypatch):
    monkeypatch.setitem(sys.modules, "threadpoolctl", None)  # None makes the import fail
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    info = bench_nets.blas_info()
    assert info["threads"] == 1
    assert "OPENBLAS_NUM_THREADS=1" in info["threads_from"]
    assert "threadpoolctl not installed" in info["threads_from"]
    assert bench_nets.set_blas_threads(1) is False


def test_ratios_only_for_equal_thread_counts():
    assert ratio_note(1, 1) is None
    note = ratio_note(1, 2)
    assert "1 thread(s)" in note and "PyTorch 2" in note and "OPENBLAS_NUM_THREADS" in note


def test_report_names_numpy_threads(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "threadpoolctl", None)
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    assert bench_nets.main(["--quick", "--no-torch", "--networks", "dqn_cnn"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["numpy_threads"] == 1 and report["torch"] is None
    assert "torch_threads" not in report and "ratio_note" not in report
