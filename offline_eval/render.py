"""Draw ARC grids and simple charts with numpy and the standard library only.

- grid_svg: one grid as inline SVG, optionally framed (green right / red wrong).
- grid_png / task_png / write_png / read_png: RGB images of grids and a minimal PNG codec
  (8-bit, non-interlaced; the reader handles every PNG the writer produces, and other plain
  8-bit grey/RGB/RGBA files).
- line_plot_svg: a line chart with axes, ticks and a legend.

Anything that is not a valid grid (None, ragged, a value outside 0..9) is drawn as a grey
placeholder instead of raising, because a report must still show a malformed attempt.
"""

import html
import math
import struct
import zlib
from pathlib import Path

import numpy as np

# ARC's standard palette, index = cell value
PALETTE_HEX = [
    "#000000",  # 0 black
    "#0074D9",  # 1 blue
    "#FF4136",  # 2 red
    "#2ECC40",  # 3 green
    "#FFDC00",  # 4 yellow
    "#AAAAAA",  # 5 grey
    "#F012BE",  # 6 magenta
    "#FF851B",  # 7 orange
    "#7FDBFF",  # 8 light blue
    "#870C25",  # 9 maroon
]


def hex_to_rgb(color):
    """'#RRGGBB' -> (r, g, b) ints."""
    color = color.lstrip("#")
    return tuple(int(color[i:i + 2], 16) for i in (0, 2, 4))


PALETTE = np.array([hex_to_rgb(c) for c in PALETTE_HEX], dtype=np.uint8)  # (10, 3)

FRAME_RIGHT = "#1E9E3E"  # frame of a correct attempt
FRAME_WRONG = "#E0281B"  # frame of a wrong attempt
LINE_HEX = "#555555"     # grid lines between cells
PLACEHOLDER_HEX = "#DDDDDD"
FRAME_PX = 3             # frame thickness; one white pixel separates it from the grid


def as_grid_array(grid):
    """A valid grid as an int array (H, W), or None when it cannot be drawn."""
    if grid is None:
        return None
    try:
        a = np.asarray(grid)
    except (ValueError, TypeError):  # ragged rows
        return None
    if a.ndim != 2 or a.size == 0 or a.dtype.kind not in "iub":
        return None
    if a.min() < 0 or a.max() > 9:
        return None
    return a.astype(np.int64)


# -----------------------------------------------------------------------------
# SVG grids


def grid_svg(grid, cell=12, border=None):
    """Inline SVG of `grid`: one square per cell with thin lines; `border` is a CSS colour
    for a frame around it (FRAME_RIGHT / FRAME_WRONG), or None for no frame."""
    a = as_grid_array(grid)
    pad = FRAME_PX + 1 if border else 0
    if a is None:
        # placeholder the size of a 3x3 grid, with a question mark
        side = 3 * cell
        W = H = side + 2 * pad
        parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}">',
                 "<title>not a valid grid</title>"]
        if border:
            parts.append(f'<rect width="{W}" height="{H}" fill="{border}"/>')
            parts.append(f'<rect x="{FRAME_PX}" y="{FRAME_PX}" width="{W - 2 * FRAME_PX}" '
                         f'height="{H - 2 * FRAME_PX}" fill="#fff"/>')
        parts.append(f'<rect x="{pad}" y="{pad}" width="{side}" height="{side}" fill="{PLACEHOLDER_HEX}"/>')
        parts.append(f'<text x="{W / 2}" y="{H / 2}" font-size="{cell * 1.5}" text-anchor="middle" '
                     f'dominant-baseline="central" fill="#666">?</text></svg>')
        return "".join(parts)

    h, w = a.shape
    W, H = w * cell + 2 * pad, h * cell + 2 * pad
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}">',
             f"<title>{h}x{w}</title>"]
    if border:
        parts.append(f'<rect width="{W}" height="{H}" fill="{border}"/>')
        parts.append(f'<rect x="{FRAME_PX}" y="{FRAME_PX}" width="{W - 2 * FRAME_PX}" '
                     f'height="{H - 2 * FRAME_PX}" fill="#fff"/>')
    # paint the most common colour once, then only the other cells, merged into horizontal runs:
    # keeps a 30x30 grid to a few hundred bytes instead of 900 rects
    bg = int(np.bincount(a.ravel(), minlength=10).argmax())
    parts.append(f'<rect x="{pad}" y="{pad}" width="{w * cell}" height="{h * cell}" fill="{PALETTE_HEX[bg]}"/>')
    for r in range(h):
        c = 0
        while c < w:
            v = a[r, c]
            end = c + 1
            while end < w and a[r, end] == v:
                end += 1
            if v != bg:
                parts.append(f'<rect x="{pad + c * cell}" y="{pad + r * cell}" width="{(end - c) * cell}" '
                             f'height="{cell}" fill="{PALETTE_HEX[v]}"/>')
            c = end
    # all grid lines as one path
    d = "".join(f"M{pad} {pad + r * cell}h{w * cell}" for r in range(h + 1))
    d += "".join(f"M{pad + c * cell} {pad}v{h * cell}" for c in range(w + 1))
    parts.append(f'<path d="{d}" stroke="{LINE_HEX}" stroke-width="0.6" fill="none"/></svg>')
    return "".join(parts)


# -----------------------------------------------------------------------------
# PNG codec


def _png_chunk(tag, data):
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)


def write_png(path, rgb):
    """Write an RGB image (H, W, 3) uint8 as a PNG (8-bit, filter 0 on every row)."""
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"write_png wants a uint8 array (H, W, 3), got {rgb.dtype} {rgb.shape}")
    h, w, _ = rgb.shape
    raw = np.zeros((h, 1 + w * 3), dtype=np.uint8)  # (H, 1 + 3W): a filter byte (0) per row
    raw[:, 1:] = rgb.reshape(h, w * 3)
    png = (b"\x89PNG\r\n\x1a\n"
           + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
           + _png_chunk(b"IDAT", zlib.compress(raw.tobytes(), 6))
           + _png_chunk(b"IEND", b""))
    Path(path).write_bytes(png)


def _paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def read_png(path):
    """Decode an 8-bit non-interlaced grey / RGB / RGBA PNG -> uint8 array (H, W, C)."""
    data = Path(path).read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path}: not a PNG file")
    pos, idat, header = 8, [], None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        tag = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        if zlib.crc32(tag + body) & 0xFFFFFFFF != crc:
            raise ValueError(f"{path}: bad CRC in chunk {tag!r}")
        if tag == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif tag == b"IDAT":
            idat.append(body)
        elif tag == b"IEND":
            break
        pos += 12 + length
    if header is None:
        raise ValueError(f"{path}: no IHDR chunk")
    w, h, depth, color_type, _, _, interlace = header
    channels = {0: 1, 2: 3, 6: 4}.get(color_type)
    if depth != 8 or channels is None or interlace != 0:
        raise ValueError(f"{path}: only 8-bit non-interlaced grey/RGB/RGBA PNGs are supported")

    stride = w * channels
    rows = np.frombuffer(zlib.decompress(b"".join(idat)), dtype=np.uint8).reshape(h, 1 + stride)
    out = np.zeros((h, stride), dtype=np.uint8)
    prev = np.zeros(stride, dtype=np.int64)
    for y in range(h):
        kind, line = rows[y, 0], rows[y, 1:].astype(np.int64)
        if kind == 0:    # None
            cur = line
        elif kind == 1:  # Sub: running sum of each channel along the row
            cur = line.reshape(w, channels).cumsum(axis=0).reshape(stride) & 255
        elif kind == 2:  # Up
            cur = (line + prev) & 255
        elif kind in (3, 4):  # Average, Paeth: sequential, done in plain Python
            cur_l, prev_l, line_l = [0] * stride, prev.tolist(), line.tolist()
            for i in range(stride):
                left = cur_l[i - channels] if i >= channels else 0
                if kind == 3:
                    pred = (left + prev_l[i]) // 2
                else:
                    pred = _paeth(left, prev_l[i], prev_l[i - channels] if i >= channels else 0)
                cur_l[i] = (line_l[i] + pred) & 255
            cur = np.array(cur_l, dtype=np.int64)
        else:
            raise ValueError(f"{path}: unknown filter type {kind} on row {y}")
        out[y] = cur
        prev = cur
    return out.reshape(h, w, channels)


# -----------------------------------------------------------------------------
# RGB images of grids and tasks


def grid_png(grid, cell=16):
    """RGB image (H*cell+1, W*cell+1, 3) uint8 of `grid`, with 1-pixel grid lines between cells.
    Cell (r, c) fills pixels [r*cell+1, (r+1)*cell) x [c*cell+1, (c+1)*cell)."""
    line = np.array(hex_to_rgb(LINE_HEX), dtype=np.uint8)
    a = as_grid_array(grid)
    if a is None:
        # grey placeholder the size of a 3x3 grid with a dark outline
        side = 3 * cell + 1
        img = np.empty((side, side, 3), dtype=np.uint8)
        img[:] = hex_to_rgb(PLACEHOLDER_HEX)
        img[[0, -1], :] = line
        img[:, [0, -1]] = line
        return img
    h, w = a.shape
    img = np.empty((h * cell + 1, w * cell + 1, 3), dtype=np.uint8)
    img[1:, 1:] = np.repeat(np.repeat(PALETTE[a], cell, axis=0), cell, axis=1)  # (H*cell, W*cell, 3)
    img[::cell, :] = line
    img[:, ::cell] = line
    return img


def _framed(img, border):
    """Surround `img` with a FRAME_PX frame of colour `border` (white when None) and 1 px white."""
    pad = FRAME_PX + 1
    h, w, _ = img.shape
    out = np.full((h + 2 * pad, w + 2 * pad, 3), 255, dtype=np.uint8)
    if border:
        out[:] = hex_to_rgb(border)
        out[FRAME_PX:-FRAME_PX, FRAME_PX:-FRAME_PX] = 255
    out[pad:pad + h, pad:pad + w] = img
    return out


def task_png(rows_of_grids, path, cell=16, borders=None):
    """Lay out rows of grids on a white canvas and write it to `path` as a PNG.

    rows_of_grids: [[grid, grid, ...], ...]; each inner list is one row, left to right.
    borders: same nesting, a frame colour or None per grid (None: no frames at all).
    Every grid gets the same margin, framed or not, so rows line up. Returns the image.
    """
    gap = max(cell, 8)
    images = []  # per row, the framed images
    for r, row in enumerate(rows_of_grids):
        row_borders = borders[r] if borders is not None else [None] * len(row)
        images.append([_framed(grid_png(g, cell), b) for g, b in zip(row, row_borders)])
    row_h = [max((im.shape[0] for im in row), default=0) for row in images]
    row_w = [sum(im.shape[1] for im in row) + gap * max(len(row) - 1, 0) for row in images]
    H = sum(row_h) + gap * (len(images) + 1)
    W = max(row_w, default=0) + 2 * gap
    canvas = np.full((H, W, 3), 255, dtype=np.uint8)
    y = gap
    for row, rh in zip(images, row_h):
        x = gap
        for im in row:
            canvas[y:y + im.shape[0], x:x + im.shape[1]] = im
            x += im.shape[1] + gap
        y += rh + gap
    write_png(path, canvas)
    return canvas


# -----------------------------------------------------------------------------
# Line chart

SERIES_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                 "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]


def _nice_ticks(lo, hi, n=5):
    """About n round-numbered ticks covering [lo, hi]; returns (ticks, step)."""
    span = hi - lo
    raw = span / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    ticks = []
    t = first
    while t <= hi + step * 1e-9:
        ticks.append(t)
        t = first + len(ticks) * step
    return ticks, step


def _fmt_tick(v, step):
    if v != 0 and (abs(v) >= 1e5 or abs(v) < 1e-3):
        return f"{v:.3g}"
    decimals = max(0, -math.floor(math.log10(step)))
    return f"{v:.{decimals}f}"


def line_plot_svg(series, title, xlabel, ylabel, width=420, height=260, logx=False):
    """SVG line chart. series: {name: [(x, y), ...]}; logx puts x on a log10 scale
    (points with x <= 0 are dropped). Non-finite points are skipped."""
    # clean the data: finite points, positive x on a log axis
    clean = {}
    for name, pts in series.items():
        keep = [(float(x), float(y)) for x, y in pts
                if math.isfinite(x) and math.isfinite(y) and (not logx or x > 0)]
        clean[name] = sorted(keep)
    tx = (lambda x: math.log10(x)) if logx else (lambda x: x)
    xs = [tx(x) for pts in clean.values() for x, _ in pts]
    ys = [y for pts in clean.values() for _, y in pts]
    x_lo, x_hi = (min(xs), max(xs)) if xs else (0.0, 1.0)
    y_lo, y_hi = (min(ys), max(ys)) if ys else (0.0, 1.0)
    if x_hi == x_lo:
        x_lo, x_hi = x_lo - 0.5, x_hi + 0.5
    if y_hi == y_lo:
        y_lo, y_hi = y_lo - 0.5, y_hi + 0.5

    # ticks; widen the y range to the outer ticks so the curve never touches the frame
    y_ticks, y_step = _nice_ticks(y_lo, y_hi)
    y_lo, y_hi = min(y_lo, math.floor(y_lo / y_step) * y_step), max(y_hi, math.ceil(y_hi / y_step) * y_step)
    y_ticks, y_step = _nice_ticks(y_lo, y_hi)
    if logx:
        decades = list(range(math.ceil(x_lo - 1e-9), math.floor(x_hi + 1e-9) + 1))
        if len(decades) < 2:  # less than a decade: add 2x and 5x marks
            decades = sorted({math.log10(m * 10 ** d) for d in range(math.floor(x_lo) - 1, math.ceil(x_hi) + 1)
                              for m in (1, 2, 5)})
            decades = [d for d in decades if x_lo - 1e-9 <= d <= x_hi + 1e-9] or [x_lo, x_hi]
        x_ticks = decades
        x_labels = [f"{10 ** d:.3g}" for d in x_ticks]
    else:
        x_ticks, x_step = _nice_ticks(x_lo, x_hi)
        x_labels = [_fmt_tick(t, x_step) for t in x_ticks]
    y_labels = [_fmt_tick(t, y_step) for t in y_ticks]

    # layout: plot area inside margins
    left, right, top, bottom = 56, 12, 28, 42
    pw, ph = width - left - right, height - top - bottom

    def px(x):
        return left + (x - x_lo) / (x_hi - x_lo) * pw

    def py(y):
        return top + ph - (y - y_lo) / (y_hi - y_lo) * ph

    esc = html.escape
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
             f'<rect width="{width}" height="{height}" fill="#fff"/>',
             f'<text x="{width / 2}" y="16" text-anchor="middle" font-size="13">{esc(title)}</text>']
    # ticks with light grid lines
    for t, lab in zip(y_ticks, y_labels):
        y = py(t)
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + pw}" y2="{y:.1f}" stroke="#eee"/>')
        parts.append(f'<line x1="{left - 4}" y1="{y:.1f}" x2="{left}" y2="{y:.1f}" stroke="#333"/>')
        parts.append(f'<text x="{left - 6}" y="{y:.1f}" text-anchor="end" dominant-baseline="middle">{lab}</text>')
    for t, lab in zip(x_ticks, x_labels):
        x = px(t)
        parts.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + ph}" stroke="#eee"/>')
        parts.append(f'<line x1="{x:.1f}" y1="{top + ph}" x2="{x:.1f}" y2="{top + ph + 4}" stroke="#333"/>')
        parts.append(f'<text x="{x:.1f}" y="{top + ph + 16}" text-anchor="middle">{lab}</text>')
    # axes and labels
    parts.append(f'<path d="M{left} {top}V{top + ph}H{left + pw}" stroke="#333" fill="none"/>')
    parts.append(f'<text x="{left + pw / 2}" y="{height - 6}" text-anchor="middle">{esc(xlabel)}</text>')
    parts.append(f'<text x="14" y="{top + ph / 2}" text-anchor="middle" '
                 f'transform="rotate(-90 14 {top + ph / 2})">{esc(ylabel)}</text>')
    # one polyline per series, dots when there are few points
    for k, (name, pts) in enumerate(clean.items()):
        color = SERIES_COLORS[k % len(SERIES_COLORS)]
        coords = " ".join(f"{px(tx(x)):.1f},{py(y):.1f}" for x, y in pts)
        if len(pts) > 1:
            parts.append(f'<polyline points="{coords}" fill="none" stroke="{color}" stroke-width="1.8"/>')
        if len(pts) <= 40:
            parts += [f'<circle cx="{px(tx(x)):.1f}" cy="{py(y):.1f}" r="2.5" fill="{color}"/>' for x, y in pts]
    # legend, top-left inside the plot area
    for k, name in enumerate(clean):
        color = SERIES_COLORS[k % len(SERIES_COLORS)]
        y = top + 10 + 14 * k
        parts.append(f'<line x1="{left + 8}" y1="{y}" x2="{left + 24}" y2="{y}" stroke="{color}" stroke-width="2"/>')
        parts.append(f'<text x="{left + 28}" y="{y}" dominant-baseline="middle">{esc(str(name))}</text>')
    parts.append("</svg>")
    return "".join(parts)
