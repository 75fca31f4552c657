"""Layers that compute two layers in one, for speed: conv -> ReLU -> max-pool (the block of the
book's SimpleConvNet) and CenterOn -> conv (the front of the PacGrid DQN)."""

from typing import Any

import numpy as np

from nets.layers.conv import Conv2D
from nets.layers.im2col import Pair, pair
from nets.layers.im2col_fast import ConvKernels, channel_major, to_channel_major
from nets.layers.image_input import CenterOn
from nets.module import register


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


@register
class CenteredConv2D(Conv2D):
    """conv(center_on(x)): CenterOn's agent-centred view, then a convolution with "same" padding
    (odd kernel sizes, padding kernel // 2), computed on the grid only.

    The view (N, C, 2H-1, 2W-1) is mostly background, the same for every input: 0, or 1 in the
    `outside` channel. Convolution is linear, so conv(view) = conv(background) + conv(view -
    background), and view - background is zero outside the placed grid: it is the grid x with
    1 taken from its `outside` channel. The first term is one map for the whole batch (the bias
    plus the outside channel's weights over the taps that fall inside the view); the second is
    a convolution of the grids alone, on a canvas a little larger than a grid, whose outputs are
    added at each grid's place in the view's output. With the DQN's 3x3 stride-2 convolution
    that is 2.2-2.7x fewer output positions than convolving the whole view (and no view).

    Strides: a grid at view row r has the outputs centred on view rows s*oy, i.e. on its own
    rows y = s*oy - r, and the ones that touch it have y from -p to H - 1 + p (p = KH // 2).
    Placing it on the canvas at row a = 2p + (r - p) % s puts those centres on canvas rows
    s*k + p, where a convolution with stride s and no padding has them: canvas output k is
    view output oy = k + (r - p) // s (outputs before the first or past the last are dropped).
    Columns likewise. The canvas is H + 4p + s - 1 rows high, enough for every such centre.

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

    def canvases(self, x: np.ndarray, tops: np.ndarray, lefts: np.ndarray) -> np.ndarray:
        """Each grid of x minus the background (1 taken from the outside channels), on its
        canvas at row tops[i], column lefts[i]; zero elsewhere. In a buffer reused while
        shapes repeat (the convolution copies it at once)."""
        n, c, h, w = x.shape
        _, (sh, sw), (ph, pw) = self.geometry
        outside = self.center_on.outside_channels()
        shape = (n, c, h + 4 * ph + sh - 1, w + 4 * pw + sw - 1)
        canvas = self.canvas_buffers.get((shape, x.dtype))
        if canvas is None:
            if len(self.canvas_buffers) >= 4:  # e.g. train batch, acting batch, one observation
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
            x = x.copy()
            x[:, outside] -= 1.0
        for i, (top, left) in enumerate(zip(tops, lefts, strict=True)):
            canvas[i, :, top : top + h, left : left + w] = x[i]
        return canvas

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        x = self.check(x)
        n, _, h, w = x.shape
        _, (sh, sw), (ph, pw) = self.geometry
        weights, f = self.params["W"], self.out_channels
        rows, cols = self.center_on.offsets(x)
        outside = self.center_on.outside_channels()

        tops, lefts = 2 * ph + (rows - ph) % sh, 2 * pw + (cols - pw) % sw
        canvas = self.canvases(x, tops, lefts)
        part = self.board_kernels.im2col.to_images(
            self.board_kernels.product(weights, canvas))  # (F, N, K, L)

        # The background's map, then each grid's part added at its place.
        oh, ow = self.view_output_shape(h, w)
        background = np.broadcast_to(self.params["b"][:, None], (f, oh * ow)).copy()
        if outside is not None:
            tap_weights = weights[:, outside].sum(axis=1).reshape(f, -1)  # (F, KH*KW)
            background += tap_weights @ self.inside_taps(h, w)
        out = channel_major((n, f, oh, ow), None, x.dtype).transpose(1, 0, 2, 3)
        out[...] = background.reshape(f, 1, oh, ow)
        # Canvas output k is view output k + down (those before the first or past the last of
        # the view are dropped); columns likewise.
        k, l = part.shape[2:]
        down, across = (rows - ph) // sh, (cols - pw) // sw
        row_start, row_stop = np.maximum(-down, 0), np.minimum(k, oh - down)
        col_start, col_stop = np.maximum(-across, 0), np.minimum(l, ow - across)
        self.placed = [(slice(row_start[i] + down[i], row_stop[i] + down[i]),
                        slice(col_start[i] + across[i], col_stop[i] + across[i]),
                        slice(row_start[i], row_stop[i]), slice(col_start[i], col_stop[i]))
                       for i in range(n)]
        for i, (view_rows, view_cols, part_rows, part_cols) in enumerate(self.placed):
            out[:, i, view_rows, view_cols] += part[:, i, part_rows, part_cols]
        self.grid = (x.shape, tops, lefts, part.shape)
        return out.transpose(1, 0, 2, 3)

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        d = to_channel_major(self.cast(dout)).transpose(1, 0, 2, 3)  # (F, N, OH, OW)
        (n, c, h, w), tops, lefts, part_shape = self.grid
        f = self.out_channels
        np.sum(d, axis=(1, 2, 3), out=self.grads["b"])
        # The grids' part: the output gradient at each grid's place, zero past the view's edge.
        dpart = np.zeros(part_shape, dtype=d.dtype)
        for i, (view_rows, view_cols, part_rows, part_cols) in enumerate(self.placed):
            dpart[:, i, part_rows, part_cols] = d[:, i, view_rows, view_cols]
        drows = self.board_kernels.im2col.from_images(dpart)
        self.board_kernels.weight_gradient(drows, out=self.grads["W"])
        # The background's part: every outside channel is 1 wherever a tap reads the view.
        outside = self.center_on.outside_channels()
        if outside is not None:
            per_tap = d.sum(axis=1).reshape(f, -1) @ self.inside_taps(h, w).T  # (F, KH*KW)
            self.grads["W"][:, outside] += per_tap.reshape(f, 1, *self.geometry[0])
        if not self.input_grad:
            return None
        dcanvas = self.board_kernels.input_gradient(self.params["W"], drows)
        dx = np.empty((n, c, h, w), dtype=d.dtype)
        for i in range(n):
            dx[i] = dcanvas[i, :, tops[i] : tops[i] + h, lefts[i] : lefts[i] + w]
        return dx
