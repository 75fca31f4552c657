"""Input layers for image and grid observations: ImageInput (to (N, C, H, W) float32),
CenterOn (an agent-centred view of a grid), AgentWindow and AgentPosition (where the agent is,
beside a CNN) and FixedPlanes (a grid's constant channels).

They sit at the front of a convolutional network that reads observations as they are stored
(HWC or CHW, uint8 or bool, stacked frames), such as a DQN's Q-network over PacGrid's grids.
"""

import math
from typing import Any

import numpy as np

from nets.module import Layer, register


@register
class ImageInput(Layer):
    """Observations -> (N, C, H, W) float32: reorders HWC, merges stacked frames, scales.

    In: (N, H, W, C) or (N, C, H, W); with frame stacking (N, K, H, W, C) or (N, K, C, H, W).
    Out: (N, K*C, H, W) float32, multiplied by `scale` (1/255 for 0..255 pixels). uint8 and bool
    inputs are converted here, so the replay buffer can keep them in their compact dtype.
    """

    rowwise = True

    def __init__(self, obs_shape: list[int], layout: str = "hwc", scale: float = 1.0) -> None:
        super().__init__()
        self.obs_shape = tuple(int(d) for d in obs_shape)
        self.layout = layout
        self.scale = float(scale)
        if layout not in ("hwc", "chw") or len(self.obs_shape) not in (3, 4):
            raise ValueError(f"ImageInput needs a 3-D or 4-D shape and hwc/chw, got "
                             f"{self.obs_shape}, {layout!r}")
        # Derived once: acting calls forward every step, on a few observations.
        *frames, a, b, c = self.obs_shape
        channels, height, width = (c, a, b) if self.layout == "hwc" else (a, b, c)
        self._output_shape = (math.prod(frames) * channels, height, width)
        batch_axes = len(self.obs_shape) - 2  # N and the frames, if stacked
        # (N, [K,] H, W, C) -> (N, [K,] C, H, W): the axes for a transposed view
        self._to_chw = (*range(batch_axes), batch_axes + 2, batch_axes, batch_axes + 1)

    def output_shape(self) -> tuple[int, int, int]:
        return self._output_shape

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        self.expect(x, len(self.obs_shape) + 1, f"(N, {self.obs_shape})",
                    ok=x.shape[1:] == self.obs_shape)
        if self.layout == "hwc":
            x = x.transpose(self._to_chw)  # a view: (..., H, W, C) -> (..., C, H, W)
        out = x.reshape(len(x), *self._output_shape)
        if out.dtype.itemsize < np.dtype(self.dtype).itemsize:
            out = np.ascontiguousarray(out)  # reordered in the narrow dtype, then widened: faster
        out = np.ascontiguousarray(out, dtype=self.dtype)
        if self.scale != 1.0:
            out *= self.scale
        return out

    def forward_twin(self, x: np.ndarray, n: int, twin: "ImageInput") -> np.ndarray:
        return self.forward(x)  # no parameters, and backward needs nothing of forward

    def backward(self, dout: np.ndarray) -> np.ndarray:
        *frames, a, b, c = self.obs_shape
        dx = dout.reshape(len(dout), *frames, *((c, a, b) if self.layout == "hwc" else (a, b, c)))
        if self.layout == "hwc":
            dx = np.moveaxis(dx, -3, -1)
        return dx * self.scale

    def config_args(self) -> dict[str, Any]:
        return {"obs_shape": list(self.obs_shape), "layout": self.layout, "scale": self.scale}


@register
class CenterOn(Layer):
    """(N, C, H, W) -> (N, C, 2H-1, 2W-1): each grid shifted so that its agent cell is central.

    The agent's cell is where channel `center` is largest (in the last of `frames` stacked
    frames); cells outside the original grid are 0, except `outside` (if set), which is 1 there.
    """

    rowwise = True

    def __init__(self, channels: int, frames: int, center: int, outside: int | None = None) -> None:
        super().__init__()
        self.channels, self.frames = int(channels), int(frames)
        self.center, self.outside = int(center), None if outside is None else int(outside)
        per_frame = self.channels // self.frames
        if not 0 <= self.center < per_frame or not (
                self.outside is None or 0 <= self.outside < per_frame):
            raise ValueError(f"center/outside channels must be in [0, {per_frame}), got "
                             f"{self.center}, {self.outside}")
        self._offsets: np.ndarray | None = None

    def outside_channels(self) -> slice | None:
        """The channels (one per stacked frame) that are 1 outside the grid, if any."""
        if self.outside is None:
            return None
        return slice(self.outside, None, self.channels // self.frames)

    def offsets(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Where each grid of x (N, C, H, W) goes in the view: its top row and left column."""
        n, c, h, w = x.shape
        marker = x[:, c - c // self.frames + self.center].reshape(n, -1).argmax(axis=1)
        return h - 1 - marker // w, w - 1 - marker % w

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        n, c, h, w = x.shape
        out = np.zeros((n, c, 2 * h - 1, 2 * w - 1), dtype=x.dtype)
        if self.outside is not None:
            out[:, self.outside_channels()] = 1.0
        rows, cols = self.offsets(x)
        for i in range(n):  # a batch is small (32 rows): one slice copy each
            out[i, :, rows[i]:rows[i] + h, cols[i]:cols[i] + w] = x[i]
        self._offsets = np.stack([rows, cols], axis=1)
        self._shape = (h, w)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        h, w = self._shape
        dx = np.empty((len(dout), dout.shape[1], h, w), dtype=dout.dtype)
        for i, (row, col) in enumerate(self._offsets):
            dx[i] = dout[i, :, row:row + h, col:col + w]
        return dx

    def config_args(self) -> dict[str, Any]:
        return {"channels": self.channels, "frames": self.frames, "center": self.center,
                "outside": self.outside}


@register
class AgentPosition(Layer):
    """(N, C, H, W) -> (N, H + W): where each grid's agent stands, as a one-hot row then a
    one-hot column.

    The agent's cell is found as CenterOn finds it (channel `center` of the last of `frames`
    stacked frames). A view centred on the agent shows the board relative to it; the few
    rules tied to a fixed cell of the board (in PacGrid, an eaten ghost returns to its start
    and catches Pac-Man there) need the absolute place too. No parameters; the output is
    piecewise constant in x, so its gradient with respect to x is zero.
    """

    rowwise = True

    def __init__(self, channels: int, frames: int, center: int) -> None:
        super().__init__()
        self.center_on = CenterOn(channels, frames, center)

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        self.expect(x, 4, f"(N, {self.center_on.channels}, H, W)",
                    x.ndim == 4 and x.shape[1] == self.center_on.channels)
        n, _, h, w = x.shape
        rows, cols = self.center_on.offsets(x)  # the agent at (h - 1 - rows, w - 1 - cols)
        out = np.zeros((n, h + w), dtype=x.dtype)
        out[np.arange(n), h - 1 - rows] = 1.0
        out[np.arange(n), h + w - 1 - cols] = 1.0
        self.x_shape = x.shape
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        return np.zeros(self.x_shape, dtype=dout.dtype) if self.input_grad else None

    def config_args(self) -> dict[str, Any]:
        center_on = self.center_on
        return {"channels": center_on.channels, "frames": center_on.frames,
                "center": center_on.center}


@register
class AgentWindow(Layer):
    """(N, C, H, W) -> (N, C*S*S): the S x S cells around each grid's agent cell, flattened.

    The agent's cell is found as CenterOn finds it (channel `center` of the last of `frames`
    stacked frames); cells beyond the grid read 0, except the `outside` channel of each frame
    (if set), which reads 1 there, as in CenterOn's view. Beside a CNN whose strides blur
    the grid, it gives the dense layers the agent's surroundings cell by cell (a fovea).
    """

    rowwise = True

    def __init__(self, channels: int, frames: int, center: int, size: int,
                 outside: int | None = None) -> None:
        super().__init__()
        self.center_on = CenterOn(channels, frames, center, outside)
        self.size = int(size)
        if self.size < 1 or self.size % 2 == 0:
            raise ValueError(f"AgentWindow needs an odd size >= 1, got {size!r}")

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        self.expect(x, 4, f"(N, {self.center_on.channels}, H, W)",
                    x.ndim == 4 and x.shape[1] == self.center_on.channels)
        n, _, h, w = x.shape
        r = self.size // 2
        rows, cols = self.center_on.offsets(x)  # the agent at (h - 1 - rows, w - 1 - cols)
        self.corners = (h - 1 - rows, w - 1 - cols)  # window corners in the grid padded by r
        self.x_shape = x.shape
        # The window's cells on the grid, read by one gather (clipped there; those beyond the
        # grid are then set to 0, or to 1 in the outside channels).
        ys = self.corners[0][:, None] + np.arange(-r, r + 1)  # (N, S)
        xs = self.corners[1][:, None] + np.arange(-r, r + 1)
        y_in, x_in = (ys >= 0) & (ys < h), (xs >= 0) & (xs < w)
        # (np.minimum/np.maximum: a third of np.clip's time on these few integers)
        cells = x[np.arange(n)[:, None, None], :, np.minimum(np.maximum(ys, 0), h - 1)[:, :, None],
                  np.minimum(np.maximum(xs, 0), w - 1)[:, None, :]]  # (N, S, S, C), a new array
        if not (y_in.all() and x_in.all()):  # (in place: a quarter less time than np.where)
            beyond = ~(y_in[:, :, None] & x_in[:, None, :])  # (N, S, S)
            cells[beyond] = 0.0
            outside = self.center_on.outside_channels()
            if outside is not None:
                cells[..., outside] += beyond[..., None]
        return np.ascontiguousarray(cells.transpose(0, 3, 1, 2)).reshape(n, -1)

    def forward_twin(self, x: np.ndarray, n: int, twin: "AgentWindow") -> np.ndarray:
        if self.input_grad:  # backward reads the corners: only the first n rows' may be kept
            return super().forward_twin(x, n, twin)
        return self.forward(x)  # no parameters, and backward returns None

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        if not self.input_grad:
            return None
        n, c, h, w = self.x_shape
        r, s = self.size // 2, self.size
        dpadded = np.zeros((n, c, h + 2 * r, w + 2 * r), dtype=dout.dtype)
        dwindows = dout.reshape(n, c, s, s)
        for i, (top, left) in enumerate(zip(*self.corners, strict=True)):
            dpadded[i, :, top : top + s, left : left + s] = dwindows[i]
        return dpadded[:, :, r : r + h, r : r + w]

    def config_args(self) -> dict[str, Any]:
        center_on = self.center_on
        return {"channels": center_on.channels, "frames": center_on.frames,
                "center": center_on.center, "size": self.size, "outside": center_on.outside}


@register
class FixedPlanes(Layer):
    """(N, C, H, W) -> (N, C + K, H, W): the input with K fixed planes after its channels.

    Some facts about a board are the same in every observation (in PacGrid, the cell each ghost
    returns to when eaten), so the observation leaves them out and a network must learn where
    they are from the rest of the board. Put beside the grid's own channels before a centred
    view or a window around the agent, they are read where they matter: "the ghost I am about
    to eat is on its own start" becomes two channels lit in one cell. No parameters; the
    planes are part of the layer's config, so a checkpoint carries them. The gradient
    reaching the input is the first C channels' own.
    """

    rowwise = True

    def __init__(self, planes: Any) -> None:
        super().__init__()
        self.planes = np.array(planes, dtype=np.float32)
        if self.planes.ndim != 3 or not self.planes.size or not np.isfinite(self.planes).all():
            raise ValueError("FixedPlanes needs a non-empty (K, H, W) array of finite numbers, "
                             f"got shape {self.planes.shape}")

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        k, h, w = self.planes.shape
        self.expect(x, 4, f"(N, C, {h}, {w})", x.ndim == 4 and x.shape[2:] == (h, w))
        n, c = x.shape[:2]
        out = np.empty((n, c + k, h, w), dtype=x.dtype)
        out[:, :c] = x
        out[:, c:] = self.planes
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        return dout[:, :dout.shape[1] - len(self.planes)] if self.input_grad else None

    def config_args(self) -> dict[str, Any]:
        return {"planes": self.planes.tolist()}
