"""Where the trials of a sweep run: a local process pool, or tasks on a Ray cluster.

A trial is one ordinary training run: a call of the function `entry(run_dir, settings, resume)`
(by default agents.registry.train_settings, see rl.sweep) writing its own run folder. `run_trial`
does that inside whichever worker picks it up, catching every failure so one bad trial never
stops the others, and writes `trial.json` into the folder as the done marker. The backends only
decide where `run_trial` runs and hand results back as they finish; the sweep driver
(scripts/sweep.py, through rl.sweep.run_trials) prints them.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import importlib
import multiprocessing
import os
import signal
import tempfile
import threading
import time
import traceback
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from fileio import atomic_write, write_json
from rl import run as run_folder

MARKER = "trial.json"  # written last, when a trial has finished (or failed): its status
LOG = "train.log"  # the trial's own stdout and stderr

# Folders a Ray cluster does not need in the project code it is sent.
RAY_CODE_EXCLUDES = ["runs/", ".venv/", ".git/", "**/__pycache__/", "data/", "*.egg-info/"]


@dataclass(frozen=True)
class Trial:
    """One training run of a sweep: a configuration (grid point) and a seed."""

    name: str  # readable folder name under the sweep, e.g. "alpha=0.1,gamma=0.9/seed=2"
    config_name: str  # the configuration part of the name, shared by its seeds
    params: dict[str, Any]  # the grid values of this configuration
    seed: int  # the training seed
    # Training settings of the run (algo, env, config fields, seed); a resumed run takes only
    # the training-loop ones (total steps, evaluation...), as the rest is in its config.json.
    settings: dict[str, Any]
    run_dir: str  # the trial's run folder (absolute)
    # "module:function" called as function(run_dir, settings, resume), e.g.
    # "agents.registry:train_settings".
    entry: str


@dataclass
class TrialResult:
    """What a finished trial reports back to the driver (also its trial.json)."""

    name: str  # the trial's name
    config_name: str  # its configuration's name
    params: dict[str, Any]  # its grid values
    seed: int  # its seed
    settings: dict[str, Any]  # the training settings it ran with
    status: str  # "done" or "failed"
    error: str | None  # what went wrong, for a failed trial
    resumed: bool  # whether it continued from a checkpoint of an interrupted run
    wall_s: float  # seconds the training call took



def _resolve_entry(entry: str) -> Any:
    module_name, _, function_name = entry.partition(":")
    if not module_name or not function_name:
        raise ValueError(f"entry must look like 'module:function', got {entry!r}")
    return getattr(importlib.import_module(module_name), function_name)


def run_trial(trial: Trial, resume: bool) -> TrialResult:
    """Run one trial to the end in this process; never raises for a failure of the training.

    The trial holds its run folder's lock (rl.run.lock) from the first write to trial.json: a
    folder that another process is writing (an orphaned worker of a killed driver) is left
    alone, and the trial is reported failed without writing anything.
    """
    run_dir = Path(trial.run_dir)
    try:
        with run_folder.lock(run_dir):
            return _run_trial_locked(trial, resume, run_dir)
    except (run_folder.RunFolderError, OSError) as err:
        return _result(trial, resume, f"{type(err).__name__}: {err}")


def _run_trial_locked(trial: Trial, resume: bool, run_dir: Path) -> TrialResult:
    log_path = run_dir / LOG
    error = None
    start = time.perf_counter()
    # Many trials share one terminal: each one's own prints and progress bars go to its log.
    with open(log_path, "a") as log:
        what = "resume" if resume else "start"
        log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} {what}: {trial.settings}\n")
        stale = run_folder.metrics_path(run_dir)
        if not resume and stale.exists():
            # An attempt that stopped before its first checkpoint: nothing to resume from, and
            # the training loop refuses to start over an existing metrics file.
            stale.unlink()
            log.write(f"removed {stale.name} of an attempt that left no checkpoint\n")
        log.flush()
        try:
            with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
                _resolve_entry(trial.entry)(str(run_dir), dict(trial.settings), resume)
        except Exception as err:
            traceback.print_exc(file=log)
            error = f"{type(err).__name__}: {err}"
    result = _result(trial, resume, error, wall_s=round(time.perf_counter() - start, 3))
    write_json(run_dir / MARKER, asdict(result))
    return result


def _result(trial: Trial, resume: bool, error: str | None, wall_s: float = 0.0) -> TrialResult:
    """The result of a trial: done when there is no error."""
    return TrialResult(
        name=trial.name,
        config_name=trial.config_name,
        params=trial.params,
        seed=trial.seed,
        settings=dict(trial.settings),
        status="failed" if error else "done",
        error=error,
        resumed=resume,
        wall_s=wall_s,
    )


# --- local: a process pool ----------------------------------------------------------------------


_DRIVER_POLL_S = 0.2  # how often a worker checks that its driver is still alive


def _init_worker(driver_pid: int) -> None:
    """Pool worker initializer: Ctrl-C is for the driver, which stops the whole pool at once;
    and a worker dies with its driver.

    A driver killed with `kill -9` cannot stop its pool: its workers would go on training (and
    start queued trials) beside the rerun of the sweep, then wait forever for work. Each worker
    therefore watches its parent: once the driver is gone it is adopted by another process, and
    it exits at once. Checkpoints are written atomically, so exiting mid-trial is safe: the
    rerun resumes the trial from its last checkpoint.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def exit_with_driver() -> None:
        while os.getppid() == driver_pid:
            time.sleep(_DRIVER_POLL_S)
        os._exit(1)

    threading.Thread(target=exit_with_driver, name="exit-with-driver", daemon=True).start()


def run_local(trials: Sequence[tuple[Trial, bool]], workers: int) -> Iterator[TrialResult]:
    """Run (trial, resume) pairs on a pool of `workers` processes; yield results as they finish.

    If the driver is interrupted (or stops reading), queued trials are dropped and running ones
    are terminated: they resume from their last checkpoint when the sweep is run again.
    """
    # "spawn" starts each worker as a fresh interpreter: no forked copies of the driver's
    # threads (tqdm's monitor) or of its half-initialised libraries, and the same on every OS.
    context = multiprocessing.get_context("spawn")
    pool = concurrent.futures.ProcessPoolExecutor(
        workers, mp_context=context, initializer=_init_worker, initargs=(os.getpid(),)
    )
    futures = {pool.submit(run_trial, trial, resume): (trial, resume) for trial, resume in trials}
    try:
        for future in concurrent.futures.as_completed(futures):
            trial, resume = futures[future]
            try:
                result = future.result()
            except Exception as err:  # the worker process itself died (killed, out of memory)
                result = _result(trial, resume, f"worker died: {type(err).__name__}: {err}")
            yield result
    except BaseException:  # KeyboardInterrupt, or GeneratorExit when the driver stops early
        pool.shutdown(wait=False, cancel_futures=True)
        for worker in multiprocessing.active_children():
            worker.terminate()  # checkpoints are written atomically: killing one is safe
        raise
    pool.shutdown()


# --- ray: each trial a Ray task -----------------------------------------------------------------


def read_files(folder: Path) -> dict[str, bytes]:
    """Every file under `folder`, by relative path, as bytes (what travels with a Ray task)."""
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def write_files(folder: Path, files: dict[str, bytes]) -> None:
    """Write files that came back from a Ray task into `folder`, each atomically, marker last."""
    for relative in sorted(files, key=lambda name: name == MARKER):
        path = folder / relative
        with atomic_write(path) as f:
            f.write(files[relative])


def run_trial_elsewhere(
    trial: Trial, resume: bool, files: dict[str, bytes]
) -> tuple[TrialResult, dict[str, bytes]]:
    """Run a trial in a scratch folder and return its result and every file it wrote.

    This is the Ray task body. A worker on another machine cannot write into the driver's
    runs/ folder, so the trial's files (and, to resume, its checkpoint) travel with the task.
    """
    with tempfile.TemporaryDirectory(prefix="sweep-trial-") as scratch:
        write_files(Path(scratch), files)
        result = run_trial(replace(trial, run_dir=scratch), resume)
        return result, read_files(Path(scratch))


def run_ray(
    trials: Sequence[tuple[Trial, bool]],
    address: str | None,
    cpus_per_trial: float,
    num_cpus: int | None = None,
) -> Iterator[TrialResult]:
    """Run (trial, resume) pairs as Ray tasks; yield results as they finish.

    Connects to the cluster at `address`, or starts a local Ray instance (with `num_cpus`
    CPUs) when there is none; reuses a Ray session the caller already started. Ray does the
    scheduling: each task asks for `cpus_per_trial` CPUs and waits until a node has them.

    On a local instance the workers share this machine's disk, so each trial writes its own
    folder in place. On a cluster (or a session started elsewhere) a worker may be on another
    machine: the trial's files travel with its task and come back with its result.
    """
    try:
        import ray
    except ImportError:
        raise SystemExit(
            "the ray backend needs Ray: pip install -e '.[ray]' (or use --backend local)"
        ) from None
    started_here = not ray.is_initialized()
    if started_here:
        runtime_env = None
        if address is not None:  # a real cluster: ship the project code to its workers
            project = Path(__file__).resolve().parent.parent
            runtime_env = {"working_dir": str(project), "excludes": RAY_CODE_EXCLUDES}
        ray.init(
            address=address,
            num_cpus=num_cpus if address is None else None,
            include_dashboard=False,
            runtime_env=runtime_env,
            log_to_driver=False,
        )
    ship_files = not (started_here and address is None)
    pending: dict = {}
    try:
        if ship_files:
            task = ray.remote(num_cpus=cpus_per_trial)(run_trial_elsewhere)
        else:
            task = ray.remote(num_cpus=cpus_per_trial)(run_trial)
        for trial, resume in trials:
            if ship_files:
                files = read_files(Path(trial.run_dir)) if resume else {}
                pending[task.remote(trial, resume, files)] = (trial, resume)
            else:
                pending[task.remote(trial, resume)] = (trial, resume)
        while pending:
            (ref,), _ = ray.wait(list(pending), num_returns=1)
            trial, resume = pending.pop(ref)
            try:
                output = ray.get(ref)
            except Exception as err:  # the task's worker died, or Ray lost the node
                output = _result(trial, resume, f"ray task failed: {type(err).__name__}: {err}")
            if isinstance(output, tuple):  # (result, files) from a trial run elsewhere
                output, files = output
                write_files(Path(trial.run_dir), files)
            yield output
    except BaseException:  # Ctrl-C, or the driver stopped early: stop the remaining tasks
        for ref in pending:
            ray.cancel(ref, force=True)
        raise
    finally:
        if started_here:
            ray.shutdown()
