"""Layers that compute two layers in one, for speed: conv -> ReLU -> max-pool (the block of the
book's SimpleConvNet) and CenterOn -> conv (the front of the PacGrid DQN)."""

from typing import Any, NamedTuple

import numpy as np

from nets.layers.conv import Conv2D
from nets.layers.im2col import Pair, pair
from nets.layers.im2col_fast import ConvKernels, channel_major, to_channel_major
from nets.layers.image_input import CenterOn
from nets.module import register, repeat_first


@register
class ConvReLUPool(Conv2D):
    """max_pool(relu(conv(x) + b)), computed as relu(max_pool(conv(x)) + b).

    The two are equal because adding the same per-channel bias to a whole window does not
    change which element is largest, and ReLU is non-decreasing so it commutes with max. The
    bias add and ReLU then run on the pooled map: for 2x2 pooling, 4x fewer elements.
    Pooling windows are pool_size x pool_size, stride pool_size (conv output rows/columns
    that do not fill a window are dropped, as MaxPool2D does).
    Shapes: x (N, C, H, W) -> (N, F, PH, PW) with PH = OH // pool_size (conv output OH).
    Params: W (F, C, KH, KW), b (F,), as Conv2D, so weights transfer between the two.

    Pooling reads the convolution output by window offset: pool_size**2 views (F, N, PH, PW),
    one per offset in the window; pooling is a running maximum over them, and its backward
    pass writes each view once. When C*KH*KW <= F (SimpleConvNet's 1-channel input) the
    im2col columns are built grouped by offset (see im2col_fast.Im2Col) and the views are
    contiguous blocks. Otherwise grouping the columns (a strided gather over C*KH*KW rows)
    would cost more than reading strided views of the plain output in place, which
    DeepConvNet does.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Pair,
                 stride: Pair = 1, padding: Pair = 0, pool_size: int = 2,
                 init: str | float = "he", rng: np.random.Generator | None = None) -> None:
        if not 1 <= pool_size <= 16:  # the winning offset is stored as a uint8 (< 256)
            raise ValueError(f"pool_size must be an int from 1 to 16, got {pool_size!r}")
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, init, rng)
        self.pool_size = int(pool_size)
        kh, kw = pair(kernel_size)
        self.grouped_columns = in_channels * kh * kw <= out_channels
        if self.grouped_columns:
            self.kernels = ConvKernels(kernel_size, stride, padding, group=pool_size)
        self.im2col = self.kernels.im2col

    def config_args(self) -> dict[str, Any]:
        return {**super().config_args(), "pool_size": self.pool_size}

    def check(self, x: np.ndarray) -> np.ndarray:
        x = super().check(x)
        oh, ow = self.im2col.out_shape(x.shape)
        ok = min(oh, ow) >= self.pool_size
        self.expect(x, 4, f"(N, {self.in_channels}, H, W) with a convolution output of at "
                    f"least {self.pool_size}x{self.pool_size} to pool", ok)
        return x

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        rows = self.kernels.product(self.params["W"], self.check(x))
        self.rows_shape = rows.shape
        offsets = self.offset_views(rows)
        # Running maximum over the window offsets. winner = the offset of the first maximum:
        # strict ">" keeps earlier offsets on ties, so exactly one input gets the gradient.
        # Offsets only grow, so max(winner, offset * better) sets winner = offset where better.
        out = offsets[0].copy()
        self.winner = np.zeros(out.shape, dtype=np.uint8)
        better = np.empty(out.shape, dtype=bool)
        for offset in range(1, self.pool_size**2):
            np.greater(offsets[offset], out, out=better)
            np.maximum(out, offsets[offset], out=out)
            np.maximum(self.winner, better.view(np.uint8) * np.uint8(offset), out=self.winner)
        out += self.params["b"][:, None, None, None]
        self.mask = out > 0
        np.maximum(out, 0, out=out)
        return out.transpose(1, 0, 2, 3)

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        dpooled = to_channel_major(dout).transpose(1, 0, 2, 3) * self.mask  # (F, N, PH, PW)
        np.sum(dpooled, axis=(1, 2, 3), out=self.grads["b"])
        # Each window's gradient goes to its winning offset; the other offsets get zero, and
        # so do the output rows/columns that no window covers.
        drows = np.zeros(self.rows_shape, dtype=dpooled.dtype)
        for offset, view in enumerate(self.offset_views(drows)):
            np.multiply(dpooled, self.winner == offset, out=view)
        self.kernels.weight_gradient(drows, out=self.grads["W"])
        if not self.input_grad:
            return None
        plain = self.ungroup(drows) if self.grouped_columns else drows
        return self.kernels.input_gradient(self.params["W"], plain)

    def pooled_shape(self) -> tuple[int, int]:
        oh, ow = self.im2col.out_shape(self.im2col.x_shape)
        return oh // self.pool_size, ow // self.pool_size

    def window_offsets(self, plain: np.ndarray) -> list[np.ndarray]:
        """Views (F, N, PH, PW) of plain (F, N, OH, OW), one per window offset k = dy*pool_size
        + dx: the positions y = py*pool_size + dy, x = px*pool_size + dx."""
        p = self.pool_size
        ph, pw = self.pooled_shape()
        return [plain[:, :, dy : dy + p * ph : p, dx : dx + p * pw : p]
                for dy in range(p) for dx in range(p)]

    def offset_views(self, rows: np.ndarray) -> list[np.ndarray]:
        """The window offsets of the product's rows, each (F, N, PH, PW): contiguous blocks for
        grouped columns, strided views of the plain order otherwise (pooling reads them in
        place rather than gathering them into blocks first: one pass less over the output)."""
        if not self.grouped_columns:
            return self.window_offsets(self.im2col.to_images(rows))
        ph, pw = self.pooled_shape()
        blocks = rows.reshape(self.out_channels, self.pool_size**2, -1, ph, pw)
        return list(blocks.transpose(1, 0, 2, 3, 4))

    def ungroup(self, drows: np.ndarray) -> np.ndarray:
        """Rows in grouped column order -> rows in plain order (F, N*OH*OW), zero at the output
        rows/columns that no window covers."""
        n = self.im2col.x_shape[0]
        oh, ow = self.im2col.out_shape(self.im2col.x_shape)
        plain = np.zeros((self.out_channels, n * oh * ow), dtype=drows.dtype)
        for view, block in zip(self.window_offsets(self.im2col.to_images(plain)),
                               self.offset_views(drows), strict=True):
            view[...] = block
        return plain


# CenteredConv2D's channel kinds (see its docstring): a channel is sparse when at most this
# share of its cells in the batch are nonzero, and channels are told apart only in batches of at
# least SPLIT_BATCH grids (under it, acting's few grids, telling them apart costs more than it
# saves: a forward pass of the Medium-v1 network was level at 8 grids and slower below).
SPARSE_SHARE = 1 / 64
SPLIT_BATCH = 16
NO_CHANNELS = np.zeros(0, dtype=np.intp)


def repeat_where(values: np.ndarray, again: np.ndarray) -> np.ndarray:
    """values with those where `again` is True repeated after them."""
    return np.concatenate([values, values[again]])


class ChannelKinds(NamedTuple):
    """How CenteredConv2D computes each channel of a batch."""

    dense: np.ndarray | slice  # by the convolution's product (slice(None): all of them)
    uniform: np.ndarray  # (Cu,) channels that are one value over each grid...
    values: np.ndarray | None  # ... (N, Cu) those values
    # The other channels (sparse): their nonzero cells as (grid, channel, row, column, value).
    cells: tuple[np.ndarray, ...] | None


ALL_DENSE = ChannelKinds(slice(None), NO_CHANNELS, None, None)


@register
class CenteredConv2D(Conv2D):
    """conv(center_on(x)): CenterOn's agent-centred view, then a convolution with "same" padding
    (odd kernel sizes, padding kernel // 2), computed on the grid only.

    The view (N, C, 2H-1, 2W-1) is mostly background, the same for every input: 0, or 1 in the
    `outside` channel. Convolution is linear, so conv(view) = conv(background) + conv(view -
    background), and view - background is zero outside the placed grid: it is the grid x with
    1 taken from its `outside` channel. The first term is one map for the whole batch (the bias
    plus the outside channel's weights over the taps that fall inside the view); the second is
    a convolution of the grids alone, on a canvas a little larger than a grid, whose outputs
    ("the part") are added at each grid's place in the view's output, by one gather for the
    batch. With the DQN's 3x3 stride-2 convolution that is 2.2-2.7x fewer output positions than
    convolving the whole view (and no view).

    Strides: a grid at view row r has the outputs centred on view rows s*oy, i.e. on its own
    rows y = s*oy - r, and the ones that touch it have y from -p to H - 1 + p (p = KH // 2).
    Placing it on the canvas at row a = 2p + (r - p) % s puts those centres on canvas rows
    s*k + p, where a convolution with stride s and no padding has them: canvas output k is
    view output oy = k + (r - p) // s (outputs before the first or past the last are dropped).
    Columns likewise. The canvas is H + 4p + s - 1 rows high, enough for every such centre,
    and a grid takes one of SH*SW places on it, its "place" (r - p) % SH * SW + (c - p) % SW.

    Channel kinds. In a network's first layer (no gradient for the input) and in batches of
    SPLIT_BATCH grids or more, the part is computed three ways by channel, which the grids
    themselves decide (ChannelKinds; only the float rounding depends on it):
    - sparse channels, at most SPARSE_SHARE of their cells nonzero in the batch's first
      SPLIT_BATCH grids (in PacGrid's grids Pac-Man, each ghost, its heading and its scared
      flag): each nonzero cell adds its value times its channel's weights to the few outputs
      whose taps read it;
    - uniform channels, one value over each grid (PacGrid's bits of the scared time): the value
      times the channel's weights summed over the taps that read the grid, a map per place;
    - the others (walls, food, the capsules until few are left), by the convolution's product,
      as all channels are otherwise.
    On the Pac-Man grids the product then runs over 2 or 3 of 19 channels; with the gather, the
    training loop of the Small-v1 and Medium-v1 DQN presets ran 11-15% more steps per
    CPU-second (docs/results.md, session 29).

    Params W (F, C, KH, KW) and b (F,), as Conv2D: the weights are interchangeable with a
    CenterOn followed by a Conv2D(padding=KH // 2), which is what this layer computes (up to
    float rounding: the sums run in another order). Shapes: x (N, C, H, W) -> (N, F, OH, OW)
    with OH = (2H - 2) // stride + 1.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Pair,
                 stride: Pair = 1, frames: int = 1, center: int = 0, outside: int | None = None,
                 init: str | float = "he", rng: np.random.Generator | None = None) -> None:
        kh, kw = pair(kernel_size)
        if kh % 2 == 0 or kw % 2 == 0:
            raise ValueError(f"CenteredConv2D needs odd kernel sizes, got {kernel_size!r}")
        super().__init__(in_channels, out_channels, kernel_size, stride, (kh // 2, kw // 2),
                         init, rng)
        self.center_on = CenterOn(in_channels, frames, center, outside)
        # (KH, KW), (SH, SW), (PH, PW): read by every pass, derived once.
        self.geometry = (kh, kw), pair(stride), (kh // 2, kw // 2)
        self.board_kernels = ConvKernels(kernel_size, stride, 0)
        self.taps: dict[tuple[Any, ...], np.ndarray] = {}
        self.canvas_buffers: dict[tuple[Any, ...], np.ndarray] = {}

    def config_args(self) -> dict[str, Any]:
        center_on = self.center_on
        return {"in_channels": self.in_channels, "out_channels": self.out_channels,
                "kernel_size": self.kernel_size, "stride": self.stride,
                "frames": center_on.frames, "center": center_on.center,
                "outside": center_on.outside, "init": self.init}

    def check(self, x: np.ndarray) -> np.ndarray:
        x = self.cast(x)
        self.expect(x, 4, f"(N, {self.in_channels}, H, W)",
                    x.ndim == 4 and x.shape[1] == self.in_channels)
        return x

    def view_output_shape(self, h: int, w: int) -> tuple[int, int]:
        """(OH, OW): the output of the convolution over the (2H-1, 2W-1) view."""
        return self.kernels.im2col.out_shape((0, 0, 2 * h - 1, 2 * w - 1))

    def inside_taps(self, h: int, w: int) -> np.ndarray:
        """(KH*KW, OH*OW): 1 where a kernel tap of an output reads a cell of the (2H-1, 2W-1)
        view rather than its zero padding."""
        if (h, w, self.dtype) not in self.taps:
            (kh, kw), (sh, sw), (ph, pw) = self.geometry
            oh, ow = self.view_output_shape(h, w)
            rows = sh * np.arange(oh)[None, :] - ph + np.arange(kh)[:, None]  # (KH, OH)
            cols = sw * np.arange(ow)[None, :] - pw + np.arange(kw)[:, None]  # (KW, OW)
            row_in = (rows >= 0) & (rows < 2 * h - 1)
            col_in = (cols >= 0) & (cols < 2 * w - 1)
            inside = row_in[:, None, :, None] & col_in[None, :, None, :]  # (KH, KW, OH, OW)
            self.taps[(h, w, self.dtype)] = inside.reshape(kh * kw, oh * ow).astype(self.dtype)
        return self.taps[(h, w, self.dtype)]

    def corner(self, place: Any) -> tuple[Any, Any]:
        """The canvas row and column of the top-left cell of a grid at `place`."""
        _, (_, sw), (ph, pw) = self.geometry
        return 2 * ph + place // sw, 2 * pw + place % sw

    def grids_by_place(self, places: np.ndarray):
        """(the grids at a place, their canvas row, column) for each place that has some."""
        for place in range(self.geometry[1][0] * self.geometry[1][1]):
            grids = np.flatnonzero(places == place)
            if len(grids):
                yield (grids, *self.corner(place))

    def canvases(self, x: np.ndarray, outside: Any, places: np.ndarray) -> np.ndarray:
        """Each grid of x minus the background (1 taken from its `outside` channels, an index
        or None; x itself is changed), on its canvas at its place; zero elsewhere. In a buffer
        reused while shapes repeat (the convolution copies it at once)."""
        n, c, h, w = x.shape
        _, (sh, sw), (ph, pw) = self.geometry
        shape = (n, c, h + 4 * ph + sh - 1, w + 4 * pw + sw - 1)
        canvas = self.canvas_buffers.get((shape, x.dtype))
        if canvas is None:
            if len(self.canvas_buffers) >= 8:  # batches for training and acting, channel sets
                self.canvas_buffers.clear()
            canvas = self.canvas_buffers[(shape, x.dtype)] = channel_major(shape, 0.0, x.dtype)
        else:
            # Every grid lies in rows [2p, 2p + H + s - 1) and columns likewise; what a grid
            # of an earlier call may have left outside this call's grid is in the first and
            # last s - 1 of them.
            for edge in (slice(2 * ph, 2 * ph + sh - 1), slice(2 * ph + h, 2 * ph + h + sh - 1)):
                canvas[:, :, edge] = 0.0
            for edge in (slice(2 * pw, 2 * pw + sw - 1), slice(2 * pw + w, 2 * pw + w + sw - 1)):
                canvas[:, :, :, edge] = 0.0
        if outside is not None:
            x[:, outside] -= 1.0
        if n <= 2 * sh * sw:  # a few grids (acting): a slice copy each
            for i, (top, left) in enumerate(zip(*self.corner(places), strict=True)):
                canvas[i, :, top : top + h, left : left + w] = x[i]
            return canvas
        for grids, top, left in self.grids_by_place(places):  # one copy for each place's grids
            canvas[grids, :, top : top + h, left : left + w] = x[grids]
        return canvas

    def split_channels(self, x: np.ndarray) -> ChannelKinds:
        """Which way each channel of x goes (ChannelKinds; all by the product while the layer
        passes a gradient to its input, as dx of a sparse channel is dense, and in batches of
        fewer than SPLIT_BATCH grids)."""
        n, c, h, w = x.shape
        if self.input_grad or n < SPLIT_BATCH:
            return ALL_DENSE
        cells = h * w
        grids = np.ascontiguousarray(x).reshape(n, c, cells)
        nonzero = grids != 0
        # Nonzero cells per channel in the first SPLIT_BATCH grids (a product: exact in float32
        # up to 2**24 cells a grid). The kinds only choose how each channel is computed, so a
        # sample of the batch decides them, for a fraction of the counting; the uniform ones
        # are then checked on every grid.
        sample = nonzero[:SPLIT_BATCH]
        m = len(sample)
        counts = (sample.reshape(m * c, cells).astype(grids.dtype)
                  @ np.ones(cells, dtype=grids.dtype)).reshape(m, c).sum(axis=0)
        sparse = counts <= SPARSE_SHARE * m * cells
        uniform = ~sparse & (counts % cells == 0)  # (a uniform channel's count is so)
        # A channel the sample saw empty may still be uniform, set on later grids only
        # (PacGrid's scared-time bits while the ghosts are scared): found by a set first cell.
        # Left sparse, it would come out cell by cell, every cell of each grid it is set on.
        maybe = sparse & (counts == 0) & (grids[:, :, 0] != 0).any(axis=0)
        outside = self.center_on.outside_channels()
        if outside is not None:  # dense: 1 is taken from them, so few are 0
            sparse[outside] = uniform[outside] = maybe[outside] = False
        candidates = np.flatnonzero(uniform | maybe)
        if len(candidates):
            planes = grids[:, candidates]
            found = (planes == planes[:, :, :1]).all(axis=(0, 2))
            uniform[candidates] = found
            sparse[candidates[found]] = False
        dense = ~(sparse | uniform)
        if not dense.any():  # one channel at least, for the product's shape
            dense[0], sparse[0], uniform[0] = True, False, False
        if dense.all():
            return ALL_DENSE
        sparse_channels = np.flatnonzero(sparse)
        first, last = (sparse_channels[0], sparse_channels[-1]) if len(sparse_channels) else (0, -1)
        # (a slice when they are consecutive, as on PacGrid's grids: half the time of an index)
        chosen = (slice(first, last + 1) if last - first + 1 == len(sparse_channels)
                  else sparse_channels)
        where = np.flatnonzero(nonzero[:, chosen])
        grid, rest = np.divmod(where, len(sparse_channels) * cells)
        channel, cell = np.divmod(rest, cells)
        channel = sparse_channels[channel]
        row, col = np.divmod(cell, w)
        uniform_channels = np.flatnonzero(uniform)
        return ChannelKinds(np.flatnonzero(dense), uniform_channels,
                            grids[:, uniform_channels, 0],
                            (grid, channel, row, col, grids[grid, channel, cell]))

    def sparse_reach(self, cells: tuple[np.ndarray, ...], places: np.ndarray,
                     part_shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Where the nonzero cells of the sparse channels reach the part: one entry per cell
        and kernel tap that some canvas output reads, as (the output's column in the product's
        rows, the tap's column in W.reshape(F, -1), the cell's value)."""
        grid, channel, row, col, value = cells
        (kh, kw), (sh, sw), _ = self.geometry
        k_count, l_count = part_shape[2:]
        # Canvas output k reads canvas rows sh*k .. sh*k + KH - 1: the cell at canvas row u is
        # tap i of output k = (u - i) / sh where that is a whole number in [0, K).
        top, left = self.corner(places[grid])
        down = (top + row)[:, None] - np.arange(kh)
        across = (left + col)[:, None] - np.arange(kw)
        row_ok = (down % sh == 0) & (down >= 0) & (down < sh * k_count)
        col_ok = (across % sw == 0) & (across >= 0) & (across < sw * l_count)
        entry, tap = np.divmod(np.flatnonzero(row_ok[:, :, None] & col_ok[:, None, :]), kh * kw)
        i, j = np.divmod(tap, kw)
        k, l = down[entry, i] // sh, across[entry, j] // sw
        columns = (grid[entry] * k_count + k) * self.board_kernels.im2col.row_width() + l
        return columns, channel[entry] * (kh * kw) + tap, value[entry]

    def grid_taps(self, h: int, w: int, part_shape: tuple[int, ...]) -> np.ndarray:
        """(KH*KW, P*K*L), P = SH*SW places: 1 where a kernel tap of canvas output (k, l) reads
        a cell of a grid at place p."""
        key = ("grid", h, w, part_shape[2:], self.dtype)
        if key not in self.taps:
            (kh, kw), (sh, sw), _ = self.geometry
            k_count, l_count = part_shape[2:]
            rows = sh * np.arange(k_count) + np.arange(kh)[:, None]  # canvas rows read (KH, K)
            cols = sw * np.arange(l_count) + np.arange(kw)[:, None]  # (KW, L)
            tops, lefts = self.corner(np.arange(sh * sw))
            tops, lefts = tops[::sw, None, None], lefts[:sw, None, None]
            row_in = (rows >= tops) & (rows < tops + h)  # (SH, KH, K)
            col_in = (cols >= lefts) & (cols < lefts + w)  # (SW, KW, L)
            inside = row_in[:, None, :, None, :, None] & col_in[None, :, None, :, None, :]
            # (SH, SW, KH, KW, K, L) -> (KH*KW, SH*SW*K*L)
            inside = inside.transpose(2, 3, 0, 1, 4, 5).reshape(kh * kw, -1)
            self.taps[key] = inside.astype(self.dtype)
        return self.taps[key]

    def uniform_maps(self, uniform: np.ndarray, h: int, w: int, part_shape: tuple[int, ...],
                     kernel: np.ndarray) -> np.ndarray:
        """(P*Cu, F*K*L): row p*Cu + c is the part of a grid at place p whose channel uniform[c]
        is 1 everywhere and whose other channels are 0, convolved with `kernel` (F, C, KH, KW)."""
        f, k, l = self.out_channels, *part_shape[2:]
        cu, places = len(uniform), self.geometry[1][0] * self.geometry[1][1]
        weights = kernel[:, uniform].transpose(1, 0, 2, 3).reshape(cu * f, -1)
        maps = (weights @ self.grid_taps(h, w, part_shape)).reshape(cu, f, places, k * l)
        return maps.transpose(2, 0, 1, 3).reshape(places * cu, f * k * l)

    def part(self, x: np.ndarray, kinds: ChannelKinds, places: np.ndarray, n: int,
             twin: "CenteredConv2D", repeat: bool = False
             ) -> tuple[np.ndarray, tuple | None, tuple[np.ndarray, np.ndarray] | None]:
        """The grids' convolution on their canvases, as the product's rows (F, N*K*row_width)
        (ConvKernels' layout; `board_kernels.im2col.to_images` views them as (F, N, K, L)):
        the first n grids by this layer's weights, the others by twin's; with `repeat`, the
        first n by twin's too, as grids after the others (`places` then counts them, `kinds`
        not: x's). With what backward needs of the sparse and uniform channels: the first n
        grids' sparse cells, and those of them with a uniform channel set (None without
        uniform channels) with their values in the blocks of their places."""
        count, (c, h, w) = len(places), x.shape[1:]
        kernel, f = self.params["W"], self.out_channels
        # (the twin's kernel, or None when every grid is this layer's)
        other = twin.params["W"] if n < count else None
        outside = self.center_on.outside_channels()
        grid_places = places[: len(x)]
        if kinds is ALL_DENSE:
            canvas = self.canvases(x.copy() if outside is not None else x, outside, grid_places)
            return self.board_kernels.product(kernel, canvas, other, n, repeat), None, None
        own_outside = None if outside is None else np.searchsorted(
            kinds.dense, np.arange(c)[outside])
        canvas = self.canvases(x[:, kinds.dense], own_outside, grid_places)  # (a copy)
        rows = self.board_kernels.product(kernel[:, kinds.dense], canvas,
                                          None if other is None else other[:, kinds.dense], n,
                                          repeat)
        part = self.board_kernels.im2col.to_images(rows)  # (F, N, K, L)
        columns, taps, values = self.sparse_reach(kinds.cells, grid_places, part.shape)
        per_grid = rows.shape[1] // count
        if repeat:  # the first n grids' cells again, in the repeated grids' columns
            again = columns < n * per_grid
            columns = np.concatenate([columns, columns[again] + len(x) * per_grid])
            taps, values = repeat_where(taps, again), repeat_where(values, again)
        # The cells come grid by grid: the first n grids' are the first `own` (columns < n*K*R).
        own = np.count_nonzero(columns < n * per_grid)
        flat = rows.reshape(-1)
        for weights, first, stop in ((kernel, 0, own), (other, own, len(columns))):
            if weights is not None and first < stop:
                cells = slice(first, stop)
                np.add.at(flat, (np.arange(f)[:, None] * rows.shape[1] + columns[cells]).ravel(),
                          (weights.reshape(f, -1)[:, taps[cells]] * values[cells]).ravel())
        spread = None
        if len(kinds.uniform):
            # The grids with a uniform channel set (PacGrid's: while the ghosts are scared),
            # each with its values in the block of its place: one product per set of weights.
            grid_values = repeat_first(kinds.values, n) if repeat else kinds.values
            lit = np.flatnonzero(grid_values.any(axis=1))
            spread = np.zeros((len(lit), self.geometry[1][0] * self.geometry[1][1],
                               len(kinds.uniform)), dtype=part.dtype)
            spread[np.arange(len(lit)), places[lit]] = grid_values[lit]
            own_lit = np.count_nonzero(lit < n)
            for weights, some in ((kernel, slice(0, own_lit)), (other, slice(own_lit, None))):
                grids = lit[some]
                if weights is not None and len(grids):
                    maps = self.uniform_maps(kinds.uniform, h, w, part.shape, weights)
                    part[:, grids] += (spread[some].reshape(len(grids), -1) @ maps).reshape(
                        len(grids), f, *part.shape[2:]).transpose(1, 0, 2, 3)
            spread = (lit[:own_lit], spread[:own_lit])
        return rows, (columns[:own], taps[:own], values[:own]), spread

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        x = self.check(x)
        return self.convolve(x, len(x), self)

    def forward_twin(self, x: np.ndarray, n: int, twin: "CenteredConv2D") -> np.ndarray:
        return self.convolve(self.check(x), n, twin)

    def forward_twin_repeated(self, x: np.ndarray, n: int, twin: "CenteredConv2D"
                              ) -> np.ndarray:
        # The repeated grids' channel kinds, canvases and columns are the first n's.
        return self.convolve(self.check(x), n, twin, repeat=True)

    def convolve(self, x: np.ndarray, n: int, twin: "CenteredConv2D",
                 repeat: bool = False) -> np.ndarray:
        """The forward pass over x, its first n grids by this layer's weights (what backward
        refers to) and the others by twin's (Layer.forward_twin); with `repeat`, the first n
        by twin's too, after the others (Layer.forward_twin_repeated)."""
        _, _, h, w = x.shape
        _, (sh, sw), (ph, pw) = self.geometry
        f = self.out_channels
        rows, cols = self.center_on.offsets(x)
        kinds = self.split_channels(x)
        if repeat:
            rows, cols = repeat_first(rows, n), repeat_first(cols, n)
        count = len(rows)  # (grids, the repeated ones included)
        places = (rows - ph) % sh * sw + (cols - pw) % sw
        part_rows, sparse, spread = self.part(x, kinds, places, n, twin, repeat)
        k_count, l_count = self.board_kernels.im2col.to_images(part_rows).shape[2:]

        # Each grid's part at its place: canvas output k is view output k + (r - p) // s
        # (outputs before the first or past the last of the view are dropped), columns likewise;
        # one gather for the batch, where view outputs the part does not reach read its first
        # entry, times 0. Then the background's map.
        oh, ow = self.view_output_shape(h, w)
        k = np.arange(oh) - ((rows - ph) // sh)[:, None]  # (N, OH): each view row's part row
        l = np.arange(ow) - ((cols - pw) // sw)[:, None]
        row_in, col_in = (k >= 0) & (k < k_count), (l >= 0) & (l < l_count)
        reached = (row_in[:, :, None] & col_in[:, None, :]).reshape(-1)
        row_starts = ((np.arange(count)[:, None] * k_count + np.where(row_in, k, 0))
                      * self.board_kernels.im2col.row_width())
        sources = (row_starts[:, :, None] + np.where(col_in, l, 0)[:, None, :]).reshape(-1)
        out = np.take(part_rows, sources, axis=1)  # (F, N*OH*OW)
        out *= reached
        out = out.reshape(f, count, oh * ow)
        outside = self.center_on.outside_channels()
        halves = [(self, slice(0, n))] + ([(twin, slice(n, None))] if n < count else [])
        for layer, grids in halves:  # each network's background on its grids
            background = layer.params["b"][:, None]
            if outside is not None:
                tap_weights = layer.params["W"][:, outside].sum(axis=1).reshape(f, -1)
                background = background + tap_weights @ self.inside_taps(h, w)  # (F, OH*OW)
            out[:, grids] += background[:, None]
        # What backward needs, of the first n grids.
        placed = np.flatnonzero(reached[: n * oh * ow])
        self.grid = ((n, *x.shape[1:]), places[:n], (f, n * (part_rows.shape[1] // count)),
                     kinds, sparse, spread, placed,
                     sources[placed])
        self.board_kernels.im2col.keep_first(n)
        return out.reshape(f, count, oh, ow).transpose(1, 0, 2, 3)

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        d = to_channel_major(self.cast(dout)).transpose(1, 0, 2, 3)  # (F, N, OH, OW)
        (n, c, h, w), places, rows_shape, kinds, sparse, spread, placed, sources = self.grid
        f, grads = self.out_channels, self.grads["W"]
        np.sum(d, axis=(1, 2, 3), out=self.grads["b"])
        # The part's gradient: the output gradient at each grid's place, zero past the view's
        # edge (each part output reaches one view output at most).
        drows = np.zeros(rows_shape, dtype=d.dtype)
        drows[:, sources] = d.reshape(f, -1)[:, placed]
        if kinds is ALL_DENSE:
            self.board_kernels.weight_gradient(drows, out=grads)
        else:
            grads[...] = 0.0
            columns, taps, values = sparse
            np.add.at(grads.reshape(-1), (np.arange(f)[:, None] * grads[0].size + taps).ravel(),
                      (drows[:, columns] * values).ravel())
            dense = np.empty((f, len(kinds.dense), *self.geometry[0]), dtype=grads.dtype)
            self.board_kernels.weight_gradient(drows, out=dense)
            grads[:, kinds.dense] = dense
        if spread is not None and len(spread[0]):
            # Through uniform_maps: over each place's grids (those with a uniform channel
            # set), then its taps.
            lit, spread = spread
            dpart = self.board_kernels.im2col.to_images(drows)[:, lit]  # (F, lit, K, L)
            count, cu, kl = spread.shape[1], spread.shape[2], dpart[0, 0].size
            per_place = (spread.reshape(len(lit), -1).T
                         @ dpart.transpose(1, 0, 2, 3).reshape(len(lit), -1))
            taps_read = self.grid_taps(h, w, dpart.shape).reshape(-1, count, kl)
            per_tap = per_place.reshape(count, cu * f, kl) @ taps_read.transpose(1, 2, 0)
            grads[:, kinds.uniform] = per_tap.sum(axis=0).reshape(
                cu, f, *self.geometry[0]).transpose(1, 0, 2, 3)
        # The background's part: every outside channel is 1 wherever a tap reads the view.
        outside = self.center_on.outside_channels()
        if outside is not None:
            per_tap = d.sum(axis=1).reshape(f, -1) @ self.inside_taps(h, w).T  # (F, KH*KW)
            grads[:, outside] += per_tap.reshape(f, 1, *self.geometry[0])
        if not self.input_grad:
            return None
        dcanvas = self.board_kernels.input_gradient(self.params["W"], drows)
        dx = np.empty((n, c, h, w), dtype=d.dtype)
        for grids, top, left in self.grids_by_place(places):
            dx[grids] = dcanvas[grids, :, top : top + h, left : left + w]
        return dx
