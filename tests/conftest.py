"""Test-wide setup: headless, offline pygame before anything imports it; one BLAS thread.

Float comparisons: tests/tolerance.py states the float32 tolerance rule (assert_close_f32).
"""

import os

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
# Tests use small matrices, and the CI machine has two cores that pytest and BLAS would share:
# one BLAS thread is faster there. The float32 sums still differ between machines (kernels) and
# thread counts, so `make test` runs the numerics tests with 2 threads too (see the Makefile).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")


def pytest_report_header(config) -> list[str]:
    """The BLAS, kernel and thread count this run's float32 results come from."""
    try:
        import numpy  # noqa: F401  (loads the BLAS that threadpool_info reports)
        from threadpoolctl import threadpool_info
    except ImportError:
        return [f"BLAS threads: OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']} "
                "(threadpoolctl not installed)"]
    return [f"BLAS: {pool.get('internal_api')} {pool.get('version')}, kernel "
            f"{pool.get('architecture')}, {pool.get('num_threads')} thread(s)"
            for pool in threadpool_info() if pool.get("user_api") == "blas"]
