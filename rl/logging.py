"""Run logs: metrics.csv (always) and TensorBoard event files (when a writer is installed).

Rows of one run have different columns (episode rows, evaluation rows, agent-metric rows), so
the CSV header grows when a row brings a new column: the file is rewritten once with the wider
header. That happens a handful of times per run, early, while the file is small.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import numpy as np

from fileio import atomic_write

# The evaluation columns that readers score runs by: the greedy evaluations' mean return, and
# their win rate where the env reports wins (the Pac-Man game).
EVAL_RETURN = "eval_return_mean"
EVAL_WIN_RATE = "eval_win_rate"

# Columns that always come first, in this order, so the file reads the same across runs.
LEADING_COLUMNS = (
    "step",
    "episode",
    "episode_return",
    "episode_length",
    EVAL_RETURN,
    "eval_return_std",
)


class CsvLogger:
    """Append rows (dicts) to a CSV file; missing columns are left empty.

    `keep_rows=None` starts a fresh file; `keep_rows=n` keeps the first n rows of an existing
    file and appends after them (used on resume: rows written after the last checkpoint are
    dropped because the resumed run writes them again).
    """

    def __init__(self, path: str | Path, keep_rows: int | None = None) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.columns: list[str] = []
        self.rows_written = 0
        if keep_rows is None:
            self._rewrite([], [])
        else:
            columns, rows = _read_rows(self.path) if self.path.exists() else ([], [])
            if len(rows) < keep_rows:
                raise ValueError(
                    f"{self.path} has {len(rows)} rows but {keep_rows} were expected; "
                    "the metrics file does not belong to this checkpoint"
                )
            self._rewrite(columns, rows[:keep_rows])

    def log(self, row: dict[str, Any]) -> None:
        """Append one row; a key not seen before adds a column."""
        new = [key for key in row if key not in self.columns]
        if new:
            self.flush()
            _, rows = _read_rows(self.path)
            self._rewrite(_order_columns(self.columns + new), rows)
        self._writer.writerow({key: _format(value) for key, value in row.items()})
        self.rows_written += 1

    def flush(self) -> None:
        """Push buffered rows to the file (done before every checkpoint)."""
        self._file.flush()

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()

    def __enter__(self) -> CsvLogger:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _rewrite(self, columns: list[str], rows: list[dict[str, str]]) -> None:
        """Write header + rows to a temp file, rename it over the log, reopen for appending."""
        if getattr(self, "_file", None) is not None:
            self._file.close()
        with atomic_write(self.path, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=columns)
            if columns:
                writer.writeheader()
            writer.writerows(rows)
        self.columns = columns
        self.rows_written = len(rows)
        self._file = open(self.path, "a", newline="")  # closed by close()
        self._writer = csv.DictWriter(self._file, fieldnames=columns)


def _order_columns(columns: list[str]) -> list[str]:
    leading = [c for c in LEADING_COLUMNS if c in columns]
    return leading + [c for c in columns if c not in LEADING_COLUMNS]


def _format(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, np.generic):
        value = value.item()
    return value


def _read_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
        return list(reader.fieldnames or []), rows


def read_metrics(path: str | Path) -> dict[str, np.ndarray]:
    """metrics.csv as float columns; empty cells are NaN (a column is NaN where a row lacks it)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no metrics file at {path}")
    columns, rows = _read_rows(path)
    out = {}
    for column in columns:
        values = []
        for row in rows:
            cell = row.get(column) or ""
            try:
                values.append(float(cell) if cell != "" else math.nan)
            except ValueError:
                values.append(math.nan)  # a text column (none are written today) reads as NaN
        out[column] = np.array(values, dtype=np.float64)
    return out


def read_rows(path: str | Path) -> list[dict[str, float]]:
    """metrics.csv as a list of dicts with the non-empty cells as floats."""
    _, rows = _read_rows(Path(path))
    return [{k: float(v) for k, v in row.items() if v not in ("", None)} for row in rows]


def make_tensorboard_writer(log_dir: str | Path, purge_step: int | None = None) -> Any | None:
    """A TensorBoard SummaryWriter if torch or tensorboardX is installed, else None."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        try:
            from tensorboardX import SummaryWriter
        except ImportError:
            return None
    return SummaryWriter(log_dir=str(log_dir), purge_step=purge_step)
