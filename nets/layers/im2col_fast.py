"""The fast path of im2col: the memory layout and kernels behind Conv2D, pooling and the fused
block. `nets.layers.im2col` holds the plain, book-style version of the same products, and the
tests check the two equal.

Channel-major storage. Arrays are (N, C, H, W) at the interface, but the buffers made here are
stored channel-major, (C, N, H, W) in memory, and handed out as transposed views. That makes the
column matrix (C*KH*KW, N*OH*OW) a copy whose innermost runs are contiguous image rows (several
times faster to build than the book's (N*OH*OW, C*KH*KW), whose innermost runs are one kernel
row of KW values), and the product W (F, C*KH*KW) @ col is already the next layer's (F, N, OH, OW)
data, as a view: no transposing copies. Layers that take such arrays (pooling, Flatten) keep
the layout, as element-wise operations on mixed layouts run several times slower.

What else is here: shared-column padding and wide rows (PaddedBuffer, Im2Col) that turn the
copies of im2col into long contiguous runs, with strides > 1 after a split of the input into
its stride phases (StridePhases); columns grouped by pooling-window offset for the fused
ConvReLUPool; products computed in cache-sized blocks of images (BLOCK_BYTES); and the two
ways of computing a convolution's dx (ConvKernels).
"""

import math
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

from nets.layers.im2col import Pair, output_size, pair


def channel_major(shape: tuple[int, int, int, int], fill: float | None = 0.0,
                  dtype: np.dtype | type = np.float32, slack: int = 0) -> np.ndarray:
    """A new (N, C, H, W) array stored as (C, N, H, W) in memory (see the module docstring);
    fill=None leaves it uninitialized. slack: room for that many more (filled) values after
    the array's end, for strided views that read past it (Im2Col's wide rows)."""
    n, c, h, w = shape
    size = n * c * h * w
    if fill is None:
        data = np.empty(size + slack, dtype=dtype)
    else:
        data = np.full(size + slack, fill, dtype=dtype)
    return data[:size].reshape(c, n, h, w).transpose(1, 0, 2, 3)


def is_channel_major(x: np.ndarray) -> bool:
    return x.ndim == 4 and x.transpose(1, 0, 2, 3).flags.c_contiguous


def to_channel_major(x: np.ndarray) -> np.ndarray:
    """x itself if stored channel-major, else a channel-major copy.

    Element-wise operations on arrays of different memory layouts run several times slower,
    so a backward pass converts an upstream gradient once, before combining it with arrays
    cached in channel-major order.
    """
    if is_channel_major(x):
        return x
    out = channel_major(x.shape, None, x.dtype)
    out[...] = x
    return out


class PaddedBuffer:
    """Copies inputs into a zero- (or -inf-) bordered buffer that is reused while shapes repeat.

    Only the interior is written on each call, so the border is filled once, not per call
    (np.pad would allocate and fill a new array every time).

    shared_columns=True pads each row on the left only: in memory a row's left padding comes
    right after the previous row's pixels, so it is that row's right padding too (Im2Col's wide
    rows read across the row end). Rows are then W + pw wide instead of W + 2*pw.
    slack: room for that many more values after the buffer's end (see channel_major).
    """

    def __init__(self, padding: tuple[int, int], fill: float = 0.0, slack: int = 0,
                 shared_columns: bool = False) -> None:
        self.padding, self.fill, self.slack = padding, fill, slack
        self.shared_columns = shared_columns
        self.buffers: dict[tuple[Any, ...], np.ndarray] = {}

    def padded_shape(self, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
        n, c, h, w = shape
        ph, pw = self.padding
        return n, c, h + 2 * ph, w + (pw if self.shared_columns else 2 * pw)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        ph, pw = self.padding
        if ph == 0 and pw == 0:
            return x
        h, w = x.shape[2:]
        key = (x.shape, x.dtype)
        if key not in self.buffers:
            if len(self.buffers) >= 4:  # e.g. train batch, eval batch, single observation
                self.buffers.clear()
            self.buffers[key] = channel_major(self.padded_shape(x.shape), self.fill, x.dtype,
                                              self.slack)
        padded = self.buffers[key]
        padded[:, :, ph : ph + h, pw : pw + w] = x
        return padded



def _phase_slices(size: int, padding: int, stride: int, phase: int) -> tuple[slice, slice]:
    """Along one axis: the input indices in stride phase `phase` and where they go in that
    phase's image. Input index h is padded index h + padding = stride*u + phase, at u."""
    first = (phase - padding) % stride
    count = len(range(first, size, stride))
    start = (first + padding - phase) // stride
    return slice(first, None, stride), slice(start, start + count)


class StridePhases:
    """The zero-padded input split into its stride phases, for strided Im2Col (space-to-depth).

    For stride (SH, SW), phase (a, b) is the image P[a, b][u, v] = padded[SH*u + a, SW*v + b],
    one of SH*SW, each ceil(Hp/SH) x ceil(Wp/SW) with zeros past the padded input. Buffers are
    stored (SH, SW, C, N, PH, PW) in memory (channel-major per phase) and handed out as views
    (SH, SW, N, C, PH, PW); like PaddedBuffer, one is reused while shapes repeat and only the
    interior is written on each call. slack: room for that many more zeros after the end.
    """

    def __init__(self, stride: tuple[int, int], padding: tuple[int, int], slack: int = 0) -> None:
        self.stride, self.padding, self.slack = stride, padding, slack
        # (x.shape, dtype) -> (phases, [(x's part, the view of phases it goes to)])
        self.buffers: dict[tuple[Any, ...], tuple[np.ndarray, list]] = {}

    def new(self, shape: tuple[int, ...], dtype: np.dtype | type) -> np.ndarray:
        """A zero phase buffer for inputs of this shape (N, C, H, W)."""
        n, c, h, w = shape
        (sh, sw), (ph, pw) = self.stride, self.padding
        phases = (sh, sw, c, n, -(-(h + 2 * ph) // sh), -(-(w + 2 * pw) // sw))
        size = math.prod(phases)
        data = np.zeros(size + self.slack, dtype=dtype)
        return data[:size].reshape(phases).transpose(0, 1, 3, 2, 4, 5)

    def pieces(self, shape: tuple[int, ...]) -> list[tuple[tuple, tuple]]:
        """For each phase: (the part of x (N, C, H, W) in it, where that part is in `phases`)."""
        h, w = shape[2:]
        (sh, sw), (ph, pw) = self.stride, self.padding
        pieces = []
        for a in range(sh):
            x_rows, rows = _phase_slices(h, ph, sh, a)
            for b in range(sw):
                x_cols, cols = _phase_slices(w, pw, sw, b)
                pieces.append(((..., x_rows, x_cols), (a, b, ..., rows, cols)))
        return pieces

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """The phases (SH, SW, N, C, PH, PW) of x (N, C, H, W), in the reused buffer."""
        key = (x.shape, x.dtype)
        if key not in self.buffers:
            if len(self.buffers) >= 4:  # e.g. train batch, eval batch, single observation
                self.buffers.clear()
            phases = self.new(x.shape, x.dtype)
            places = [(part, phases[place]) for part, place in self.pieces(x.shape)]
            self.buffers[key] = phases, places
        phases, places = self.buffers[key]
        for part, place in places:
            np.copyto(place, x[part])
        return phases

    def merge(self, phases: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        """The inverse of `__call__` (padding dropped): phases -> x (N, C, H, W), channel-major."""
        x = channel_major(shape, None, phases.dtype)
        for part, place in self.pieces(shape):
            x[part] = phases[place]
        return x


# Columns are built and multiplied one block of whole images at a time, each block's column
# matrix about this many bytes. For the whole batch, DeepConvNet's column matrices are tens of
# megabytes: writing them to memory and streaming them back through the product took longer
# than the arithmetic. A block small enough to stay in a core's own cache is written and read
# there instead; the budget only needs to be in that range, not exact.
BLOCK_BYTES = 2**20


class Im2Col:
    """Image <-> column matrix for one kernel size, stride and padding: the transpose of the
    book's im2col (C*KH*KW, N*OH*OW), never built whole but used in products.

    The products with the column matrix run block by block (see BLOCK_BYTES): each block is
    one vectorized copy of the receptive fields of several whole images and one matrix product.
    The loop over blocks is cache tiling, as BLAS does inside a product, not a loop over batch
    items: its steps are sized in bytes, and a batch that fits one block takes one step.

    Wide rows. Where windows move one column at a time (stride 1 across) over a padded copy of
    the input, the columns run over whole rows of the padded image: positions x = 0 .. R-1
    instead of 0 .. OW-1, R = W + pw the width of a padded row whose left padding is shared
    with the previous row's right (PaddedBuffer's shared_columns). For one channel, kernel
    offset and image, the receptive fields are then one contiguous run of OH*R values, so
    im2col copies long runs instead of OH runs of OW values (2-3x faster on 8-28 pixel wide
    images). The R - OW = KW-1-pw extra outputs per row are computed and dropped
    (`to_images`); gradients get zeros there (`from_images`), so they add nothing to dW or dx.
    The last row's reads run KW-1 values past the padded image: the padded buffer keeps that
    much room after its end.

    Stride phases. With a stride, the windows of one kernel offset read every SH-th row and
    every SW-th column, so the copy above runs over single values, not rows. Split the padded
    input into its SH*SW stride phases first (StridePhases; space-to-depth), phase (a, b)
    holding the rows a, a + SH, ... and columns b, b + SW, ...: kernel offset (i, j) then
    reads phase (i % SH, j % SW) at stride 1, shifted by (i // SH, j // SW), and each phase
    gets wide rows of its own width R = ceil((W + 2*pw) / SW), one contiguous run of OH*R
    values per channel, offset and image. The column matrix keeps its (c, i, j) row order: it
    is filled by one copy per phase, into the rows of that phase's offsets. The split is one
    copy of the input, replacing the padded copy, and dx is summed into phases and merged back.
    On the 3x3 stride-2 convolutions of the PacGrid DQN (19 and 16 channels, 13x41 and 7x21
    pixels, batch 32) the columns are built 2.2-2.5x faster; the split itself costs about twice
    the padded copy it replaces (its reads are strided), and one update of the Small-v1 preset
    takes about 7% less CPU time (Medium-v1, whose larger dense layer weighs more: 2%).

    group=g (used by ConvReLUPool with g x g max-pooling) orders the columns so that the g*g
    output positions of each pooling window land in g*g separate blocks: columns run over
    (dy, dx, n, py, px) for the output position (py*g + dy, px*g + dx). The product W @ col
    then holds each window offset as one contiguous (F, N*PH*PW) block, and pooling becomes
    an element-wise maximum of g*g blocks. Output rows/columns that do not fill a window are
    left out, as pooling drops them anyway. g=1 is the plain order (n, y, x). Grouped columns
    are built for the whole batch at once, without wide rows: ConvReLUPool groups them only
    when C*KH*KW <= F, so they are no larger than the layer's output.
    """

    def __init__(self, kernel: Pair, stride: Pair = 1, padding: Pair = 0, group: int = 1):
        self.kernel, self.stride, self.padding = pair(kernel), pair(stride), pair(padding)
        self.group = group
        kw, sw = self.kernel[1], self.stride[1]
        self.phased = group == 1 and self.stride != (1, 1)
        self.wide = (group == 1 and self.stride == (1, 1) and self.padding != (0, 0)
                     and self.padding[1] < kw)
        self.pad = PaddedBuffer(self.padding, slack=kw - 1 if self.wide else 0,
                                shared_columns=self.wide)
        self.phases = StridePhases(self.stride, self.padding, slack=(kw - 1) // sw)
        self.buffer = np.empty(0, dtype=np.float32)  # storage for one block's columns, reused
        # The receptive fields' views of each reused source buffer (the padded input or its
        # phases), made once per buffer: batches of two sizes take turns in a DQN (acting and
        # updates), and remaking the views at each turn cost more than the acting pass's copy.
        self.views: dict[int, tuple[np.ndarray, list]] = {}

    def out_shape(self, x_shape: tuple[int, ...]) -> tuple[int, int]:
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.padding
        return output_size(x_shape[2], kh, sh, ph), output_size(x_shape[3], kw, sw, pw)

    def grouped_shape(self, x_shape: tuple[int, ...]) -> tuple[int, int]:
        """Number of whole groups (pooling windows) down and across the output."""
        oh, ow = self.out_shape(x_shape)
        return oh // self.group, ow // self.group

    def row_width(self) -> int:
        """Columns per output row: the (phase's) padded row width with wide rows, else OW."""
        if self.wide:
            return self.x_shape[3] + self.padding[1]
        if self.phased:
            return -(-(self.x_shape[3] + 2 * self.padding[1]) // self.stride[1])
        return self.out_shape(self.x_shape)[1]

    def window_view(self, image: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int],
                    group: int, writeable: bool) -> np.ndarray:
        """A view (C, KH, KW, g, g, N, GH, GW) of image (N, C, Hp, Wp): [c, i, j, dy, dx, n, py,
        px] is image[n, c, y*stride + i, x*stride + j] for the output position (y, x) =
        (py*g + dy, px*g + dx). For g=1, GW is `row_width()`."""
        n, c = image.shape[:2]
        (kh, kw), (sh, sw), g = kernel, stride, group
        if g == 1:
            gh, gw = self.out_shape(self.x_shape)[0], self.row_width()
        else:
            gh, gw = self.grouped_shape(self.x_shape)
        s_n, s_c, s_h, s_w = image.strides
        return as_strided(
            image, (c, kh, kw, g, g, n, gh, gw),
            (s_c, s_h, s_w, s_h * sh, s_w * sw, s_n, s_h * sh * g, s_w * sw * g),
            writeable=writeable,
        )

    def receptive_fields(self, source: np.ndarray, group: int, writeable: bool = False
                         ) -> list[tuple[tuple[slice, slice], np.ndarray]]:
        """The receptive fields in `source`, the padded input or its stride phases, as pairs
        (kernel offsets (rows, columns), view (C, KH', KW', g, g, N, GH, GW) of those offsets;
        see window_view): one pair for all offsets, or one per stride phase (a, b), the offsets
        (a::SH, b::SW) at stride 1 in phase image (a, b)."""
        if not self.phased:
            every = (slice(None), slice(None))
            return [(every, self.window_view(source, self.kernel, self.stride, group,
                                             writeable))]
        (kh, kw), (sh, sw) = self.kernel, self.stride
        fields = []
        for a in range(min(sh, kh)):
            for b in range(min(sw, kw)):
                offsets = (slice(a, None, sh), slice(b, None, sw))
                kernel = (len(range(a, kh, sh)), len(range(b, kw, sw)))
                fields.append((offsets, self.window_view(source[a, b], kernel, (1, 1), 1,
                                                         writeable)))
        return fields

    def image_blocks(self, whole: bool = False, start: int = 0, stop: int | None = None
                     ) -> list[slice]:
        """Slices of the batch (of its images start..stop) whose column matrices take about
        BLOCK_BYTES (one if whole)."""
        n, c = self.x_shape[:2]
        stop = n if stop is None else stop
        (kh, kw), oh = self.kernel, self.out_shape(self.x_shape)[0]
        image_bytes = c * kh * kw * oh * self.row_width() * self.dtype.itemsize
        per_block = max(1, stop - start if whole else BLOCK_BYTES // image_bytes)
        return [slice(first, min(first + per_block, stop))
                for first in range(start, stop, per_block)]

    def columns(self, images: slice) -> np.ndarray:
        """The column matrix (C*KH*KW, g*g*m*GH*GW) of m images of the last `product`'s x,
        in the reused buffer (overwritten by the next call)."""
        positions = self.fields[0][1][0, 0, 0, ..., images, :, :].shape  # (g, g, m, GH, GW)
        shape = (self.x_shape[1], *self.kernel, *positions)
        size = math.prod(shape)
        if self.buffer.size < size or self.buffer.dtype != self.dtype:
            self.buffer = np.empty(size, dtype=self.dtype)
        col = self.buffer[:size].reshape(shape)
        for (rows, cols), fields in self.fields:
            np.copyto(col[:, rows, cols], fields[..., images, :, :])  # the one copy im2col needs
        return col.reshape(math.prod(shape[:3]), -1)

    def product(self, weights: np.ndarray, x: np.ndarray, twin: np.ndarray | None = None,
                split: int | None = None, repeat: bool = False) -> np.ndarray:
        """weights (F, C*KH*KW) @ col(x) -> rows (F, g*g*N*GH*GW), for x (N, C, H, W).

        With `twin` weights (same shape) and `split`: the first `split` images by `weights`,
        the others by `twin` (see keep_first; plain column order only, group 1). With
        `repeat` too, the first `split` images by `twin` as well, after the others: the rows
        of np.concatenate([x, x[:split]]), from x's columns (the shape then counts N + split
        images). Keeps views of x's receptive fields for `weight_product`.
        """
        if twin is not None and self.group > 1:
            raise ValueError("twin weights need the plain column order (group 1): grouped "
                             "columns interleave the images (by position in the pooling window)")
        if repeat and twin is None:
            raise ValueError("repeat needs twin weights: the repeated images are the twin's")
        self.x_shape, self.dtype = x.shape, np.result_type(weights, x)
        source = self.phases(x) if self.phased else self.pad(x)
        known = self.views.get(id(source))
        if known is None or known[0] is not source:
            if len(self.views) >= 8:  # (as many as the buffer caches hold)
                self.views.clear()
            known = self.views[id(source)] = source, self.receptive_fields(source, self.group)
        self.fields = known[1]
        image_columns = self.fields[0][1][0, 0, 0].size // len(x)
        repeated = split if repeat else 0
        out = np.empty((len(weights), (len(x) + repeated) * image_columns), dtype=self.dtype)
        whole = self.group > 1
        # The twin's images first: the columns left in the buffer are then the first images'.
        # (matrices, blocks of images, where their rows go: images + shift)
        passes = [] if twin is None else [([twin], self.image_blocks(whole, split), [0])]
        own = self.image_blocks(whole, 0, len(x) if twin is None else split)
        passes.append(([weights, twin], own, [0, len(x)]) if repeated else ([weights], own, [0]))
        for matrices, blocks, shifts in passes:
            for images in blocks:
                col = self.columns(images)
                for matrix, shift in zip(matrices, shifts, strict=True):
                    start, stop = images.start + shift, images.stop + shift
                    np.matmul(matrix, col, out=out[:, start * image_columns :
                                                   stop * image_columns])
        # With a single block, its columns are still in the buffer for weight_product.
        self.kept = col if len(own) == 1 else None
        if repeated:
            self.x_shape = (len(x) + repeated, *x.shape[1:])  # the rows' images (keep_first)
        return out

    def keep_first(self, count: int) -> None:
        """Forget all but the first `count` images of the last `product` (those of its first
        weights, when it had twin weights): the backward products are then theirs alone."""
        self.x_shape = (count, *self.x_shape[1:])

    def to_images(self, rows: np.ndarray) -> np.ndarray:
        """Rows (F, N*OH*row_width) in plain order -> a view (F, N, OH, OW), wide rows' extra
        columns dropped."""
        oh, ow = self.out_shape(self.x_shape)
        return rows.reshape(len(rows), self.x_shape[0], oh, -1)[..., :ow]

    def from_images(self, images: np.ndarray) -> np.ndarray:
        """(F, N, OH, OW) -> rows (F, N*OH*row_width) in plain order, zero in wide rows' extra
        columns; free for contiguous input without wide rows, else one copy."""
        if self.group > 1 or self.row_width() == images.shape[-1]:
            return images.reshape(len(images), -1)
        rows = np.zeros((len(images), images[0].size // images.shape[-1] * self.row_width()),
                        dtype=images.dtype)
        self.to_images(rows)[...] = images
        return rows

    def weight_product(self, drows: np.ndarray) -> np.ndarray:
        """col(x) @ drows^T -> (C*KH*KW, F) for the x of the last `product`, with drows
        (F, columns) in the same column order: the weight gradient of that product."""
        total = np.zeros((self.x_shape[1] * math.prod(self.kernel), len(drows)),
                         dtype=self.dtype)
        image_columns = drows.shape[1] // self.x_shape[0]
        for images in self.image_blocks(whole=self.group > 1):
            block = drows[:, images.start * image_columns : images.stop * image_columns]
            col = self.kept if self.kept is not None else self.columns(images)
            # col @ block^T rather than block @ col^T: the same product, but OpenBLAS runs this
            # long reduction (over the columns) up to 1.5x faster in this orientation.
            total += col @ block.T
        return total

    def transpose_product(self, weights: np.ndarray, drows: np.ndarray) -> np.ndarray:
        """col2im(weights^T @ drows) -> dx (N, C, H, W) for the x of the last `product`, with
        drows (F, N*OH*row_width) in the plain column order (n, y, x) whatever the group.

        col2im sums the overlapping windows with one vectorized add per kernel offset (i, j)
        and block, into a view of dx shaped like the receptive fields: no loop over pixels,
        and much faster than np.add.at, which handles arbitrary repeated indices one by one.
        With stride phases the sums go to phase images, merged into dx at the end.
        """
        n, c, h, w = self.x_shape
        (kh, kw), (ph, pw) = self.kernel, self.padding
        if self.phased:
            dsource = self.phases.new(self.x_shape, self.dtype)
        else:
            dsource = channel_major(self.pad.padded_shape(self.x_shape), 0.0, self.dtype,
                                    self.pad.slack)
        dfields = self.receptive_fields(dsource, 1, writeable=True)
        oh, image_columns = self.out_shape(self.x_shape)[0], drows.shape[1] // n
        for images in self.image_blocks():
            block = drows[:, images.start * image_columns : images.stop * image_columns]
            dcol = (weights.T @ block).reshape(c, kh, kw, -1, oh, self.row_width())
            for (rows, cols), fields in dfields:
                offsets = dcol[:, rows, cols]
                for i in range(offsets.shape[1]):
                    for j in range(offsets.shape[2]):
                        fields[:, i, j, 0, 0, images] += offsets[:, i, j]
        if self.phased:
            return self.phases.merge(dsource, self.x_shape)
        return dsource[:, :, ph : ph + h, pw : pw + w]


class ConvKernels:
    """The fast path of one convolution geometry (kernel size, stride, padding, pooling group):
    the products of Conv2D's forward and backward passes, through Im2Col.

    The layer's arrays are (N, C, H, W) at this interface; the products work on "rows",
    (F, columns) matrices whose columns are output positions in Im2Col's order.

    dx has two ways. In general it is col2im(W^T @ dout) (Im2Col.transpose_product). For
    stride 1 it is also a convolution (`correlate`), whose column matrix has F*KH*KW rows where
    the forward's has C*KH*KW: it is taken when F <= C, so that it is no larger.
    """

    def __init__(self, kernel: Pair, stride: Pair = 1, padding: Pair = 0, group: int = 1):
        self.im2col = Im2Col(kernel, stride, padding, group)
        (kh, kw), (ph, pw) = self.im2col.kernel, self.im2col.padding
        self.flipped_im2col = (
            Im2Col(kernel, 1, (kh - 1 - ph, kw - 1 - pw))
            if self.im2col.stride == (1, 1) and ph < kh and pw < kw else None
        )

    def product(self, weights: np.ndarray, x: np.ndarray, twin: np.ndarray | None = None,
                split: int | None = None, repeat: bool = False) -> np.ndarray:
        """weights (F, C, KH, KW) @ im2col(x) -> rows (F, columns), for x (N, C, H, W); with
        `twin` weights, the images from `split` on by those, and with `repeat` the first
        `split` again by those after them (Im2Col.product)."""
        if twin is not None:
            twin = twin.reshape(len(twin), -1)
        return self.im2col.product(weights.reshape(len(weights), -1), x, twin, split, repeat)

    def to_images(self, rows: np.ndarray) -> np.ndarray:
        """Rows of `product` in plain column order -> (N, F, OH, OW), a view (no copy)."""
        return self.im2col.to_images(rows).transpose(1, 0, 2, 3)

    def from_images(self, dout: np.ndarray) -> np.ndarray:
        """The output gradient (N, F, OH, OW) -> rows (F, columns) in plain order."""
        return self.im2col.from_images(dout.transpose(1, 0, 2, 3))

    def weight_gradient(self, drows: np.ndarray, out: np.ndarray) -> None:
        """dW = drows @ im2col(x)^T into `out` (F, C, KH, KW), for drows in the column order of
        the last `product`."""
        np.copyto(out.reshape(len(out), -1), self.im2col.weight_product(drows).T)

    def input_gradient(self, weights: np.ndarray, drows: np.ndarray) -> np.ndarray:
        """dx (N, C, H, W) for the x of the last `product`, from drows (F, columns) in plain
        order, by whichever way builds the smaller column matrix (see the class)."""
        f, c = weights.shape[:2]
        if self.flipped_im2col is not None and f <= c:
            return self.correlate(weights, drows)
        return self.im2col.transpose_product(weights.reshape(f, -1), drows)

    def correlate(self, weights: np.ndarray, drows: np.ndarray) -> np.ndarray:
        """dx for stride 1 as a convolution: dout padded by K-1-padding, correlated with the
        kernel flipped in space and transposed in channels. From y[u, v] = sum W[i, j] x[u+i-p,
        v+j-p]: dx[a, b] = sum W[i, j] dy[a+p-i, b+p-j] = sum W'[i', j'] dy'[a+i', b+j'] with
        W'[i', j'] = W[K-1-i', K-1-j'] and dy' = dy padded by K-1-p. An im2col and the product
        (C, F*KH*KW) @ (F*KH*KW, N*H*W) replace the product and col2im's strided adds.
        """
        c = weights.shape[1]
        dout = self.im2col.to_images(drows).transpose(1, 0, 2, 3)
        flipped = weights[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)
        flipped = np.ascontiguousarray(flipped).reshape(c, -1)
        dx_rows = self.flipped_im2col.product(flipped, dout)
        return self.flipped_im2col.to_images(dx_rows).transpose(1, 0, 2, 3)
