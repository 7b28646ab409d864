"""Synthetic phone photos of a handwritten signature, with the exact ink mask.

The signature-extraction tests need many photos with a known answer. A photo is
rendered as physics would: paper reflectance × ruled-line reflectance × ink
reflectance × illumination (gradient, vignette, a soft hand/phone shadow), then
camera blur, sensor noise and a real JPEG round trip. The ground truth is the
ink coverage only (ruled lines are not ink), drawn at 2× and reduced, so the
mask and the anti-aliased ink in the photo agree to the sub-pixel.
"""

from __future__ import annotations

import struct
import zlib
from io import BytesIO
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

__all__ = ["FONT_PATH", "darkness_model", "iou", "png_bomb", "synthetic_photo"]

FONT_PATH = Path(__file__).resolve().parents[3] / "assets/fonts/wqy-microhei.ttf"

_SUPER = 2  # supersampling factor of the ink drawing
_NAMES = ("张伟", "王芳", "李娜", "刘洋", "陈静", "杨磊", "赵敏", "黄晓明", "周杰")
_INKS = {
    # Reflectance of ballpoint/gel ink on paper (0–1 per channel).
    "black": ((0.12, 0.12, 0.14), (0.20, 0.20, 0.23)),
    "blue": ((0.10, 0.14, 0.45), (0.18, 0.24, 0.62)),
}


def iou(mask: np.ndarray, truth: np.ndarray) -> float:
    """Intersection over union of two boolean masks of the same shape."""
    mask, truth = np.asarray(mask, bool), np.asarray(truth, bool)
    union = np.logical_or(mask, truth).sum()
    return float(np.logical_and(mask, truth).sum() / union) if union else 1.0


def _smooth_noise(rng, width: int, height: int, cells: tuple[int, int]) -> np.ndarray:
    # Random values on a coarse grid, bicubically enlarged (far faster than zoom).
    coarse = rng.uniform(-1, 1, (cells[1], cells[0])).astype(np.float32)
    big = Image.fromarray(coarse, "F").resize((width, height), Image.Resampling.BICUBIC)
    return np.asarray(big)


def _catmull_rom(points: np.ndarray, per_segment: int) -> np.ndarray:
    # Duplicate the ends so the curve passes through every control point.
    p = np.vstack([points[:1], points, points[-1:]])
    t = np.linspace(0, 1, per_segment, endpoint=False)[:, None]
    out = []
    for i in range(1, len(p) - 2):
        p0, p1, p2, p3 = p[i - 1], p[i], p[i + 1], p[i + 2]
        out.append(
            0.5
            * (
                2 * p1
                + (p2 - p0) * t
                + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t**2
                + (3 * p1 - p0 - 3 * p2 + p3) * t**3
            )
        )
    out.append(p[-2:-1])
    return np.vstack(out)


def _draw_strokes(draw: ImageDraw.ImageDraw, rng, box) -> None:
    x0, y0, x1, y1 = box
    for _ in range(rng.integers(3, 6)):
        n = int(rng.integers(5, 10))
        xs = np.sort(rng.uniform(x0, x1, n)) if rng.random() < 0.7 else None
        xs = xs if xs is not None else rng.uniform(x0, x1, n)
        pts = np.column_stack([xs, rng.uniform(y0, y1, n)])
        curve = _catmull_rom(pts, per_segment=400)
        # Pen pressure: width drifts smoothly between 3 and 8 px along the stroke.
        phase, freq = rng.uniform(0, 6.3), rng.uniform(1, 4)
        widths = 5.5 + 2.5 * np.sin(np.linspace(0, freq * np.pi, len(curve)) + phase)
        for (x, y), w in zip(curve, widths, strict=True):
            r = w * _SUPER / 2
            draw.ellipse((x - r, y - r, x + r, y + r), fill=255)


def _draw_name(canvas: Image.Image, rng, box) -> None:
    x0, y0, x1, y1 = box
    name = _NAMES[int(rng.integers(len(_NAMES)))]
    font = ImageFont.truetype(str(FONT_PATH), int(rng.integers(90, 130)) * _SUPER)
    left, top, right, bottom = font.getbbox(name)
    layer = Image.new("L", (right + 20, bottom + 20), 0)
    ImageDraw.Draw(layer).text((10 - left, 10 - top), name, font=font, fill=255)
    layer = layer.rotate(rng.uniform(-8, 8), resample=Image.Resampling.BICUBIC)
    px = int(rng.uniform(x0, max(x0 + 1, x1 - layer.width)))
    py = int(rng.uniform(y0, max(y0 + 1, y1 - layer.height)))
    canvas.paste(255, (px, py), layer.point(lambda v: 255 if v > 127 else 0))


def _ink_coverage(rng, width: int, height: int) -> np.ndarray:
    big = Image.new("L", (width * _SUPER, height * _SUPER), 0)
    bw, bh = rng.uniform(0.45, 0.65) * width, rng.uniform(0.25, 0.4) * height
    bx, by = (
        rng.uniform(0.08, 0.92 - bw / width) * width,
        rng.uniform(0.2, 0.5) * height,
    )
    box = tuple(v * _SUPER for v in (bx, by, bx + bw, by + bh))
    _draw_strokes(ImageDraw.Draw(big), rng, box)
    if rng.random() < 0.6:
        _draw_name(big, rng, box)
    small = big.resize((width, height), Image.Resampling.BOX)
    return np.asarray(small, np.float32) / 255.0


def _lighting(rng, width: int, height: int, shadow: bool) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(angle) * xx / width + np.sin(angle) * yy / height + 1) / 2
    light = rng.uniform(0.65, 0.8) + rng.uniform(0.2, 0.3) * ramp
    cx, cy = rng.uniform(0.3, 0.7) * width, rng.uniform(0.3, 0.7) * height
    r2 = ((xx - cx) / width) ** 2 + ((yy - cy) / height) ** 2
    light *= 1 - 0.25 * r2  # lens vignette
    if shadow:
        # A hand or phone: a blurred polygon entering from one side.
        poly = Image.new("L", (width, height), 0)
        side_x = width * (0 if rng.random() < 0.5 else 1)
        pts = [(side_x, rng.uniform(0, height)), (side_x, rng.uniform(0, height))]
        pts += [
            (rng.uniform(0.2, 0.8) * width, rng.uniform(0, height)) for _ in range(3)
        ]
        ImageDraw.Draw(poly).polygon(pts, fill=255)
        poly = poly.filter(ImageFilter.GaussianBlur(rng.uniform(15, 40)))
        depth = rng.uniform(0.35, 0.5)
        light *= 1 - depth * np.asarray(poly, np.float32) / 255.0
    return light


def synthetic_photo(
    seed: int,
    *,
    size: tuple[int, int] = (1600, 1200),
    ink: str = "black",
    lines: bool = True,
    shadow: bool = True,
    blank: bool = False,
) -> tuple[Image.Image, np.ndarray]:
    """Render a phone photo of a signature on paper.

    Args:
        seed: Seed of the random generator; the same seed gives the same photo.
        size: Width and height in pixels.
        ink: "black" or "blue" pen.
        lines: Draw light-blue ruled lines (and sometimes a red margin line).
        shadow: Cast a soft hand/phone shadow across part of the sheet.
        blank: Leave the sheet unsigned (the mask is then all False).

    Returns:
        The RGB photo (after a JPEG q=75 round trip) and the boolean ink mask.
    """
    rng = np.random.default_rng(seed)
    width, height = size
    cover = _ink_coverage(rng, width, height)
    if blank:
        cover[:] = 0
    truth = cover >= 0.5

    paper = np.array([0.93, 0.92, 0.88]) + rng.uniform(-0.03, 0.03, 3)
    low = _smooth_noise(rng, width, height, (width // 40 + 2, height // 40 + 2))
    fine = 0.01 * rng.standard_normal((height, width), np.float32)
    texture = 1 + 0.015 * low + fine
    refl = paper.astype(np.float32)[None, None, :] * texture[..., None]

    if lines:
        line = Image.new("L", (width, height), 0)
        draw = ImageDraw.Draw(line)
        tilt, gap = rng.uniform(-0.012, 0.012) * width, rng.uniform(55, 70)
        for y in np.arange(rng.uniform(20, 60), height + abs(tilt), gap):
            draw.line((0, y, width, y + tilt), fill=255, width=2)
        cov = np.asarray(line.filter(ImageFilter.GaussianBlur(0.6)), np.float32) / 255
        colour = np.array([0.62, 0.76, 0.92], np.float32)
        refl *= 1 - cov[..., None] * (1 - colour)
        if rng.random() < 0.5:  # a red margin line
            x = int(rng.uniform(0.06, 0.12) * width)
            refl[:, x : x + 2] *= 1 - 0.8 * (1 - np.array([0.92, 0.55, 0.55]))

    dark, light_ink = (np.array(c, np.float32) for c in _INKS[ink])
    pen = dark + rng.uniform(0, 1) * (light_ink - dark)
    # Ballpoint ink density varies slowly along the strokes.
    density = 0.925 + 0.075 * _smooth_noise(rng, width, height, (8, 8))
    refl *= 1 - (cover * density)[..., None] * (1 - pen)

    photo = refl * _lighting(rng, width, height, shadow)[..., None] * 255
    image = Image.fromarray(np.clip(photo, 0, 255).astype(np.uint8), "RGB")
    photo = np.asarray(image.filter(ImageFilter.GaussianBlur(0.7)), np.float32)
    photo += 2.0 * rng.standard_normal(photo.shape, np.float32)
    image = Image.fromarray(np.clip(photo, 0, 255).astype(np.uint8), "RGB")
    buf = BytesIO()
    image.save(buf, "JPEG", quality=75)
    buf.seek(0)
    return Image.open(buf).convert("RGB"), truth


def png_bomb(width: int, height: int) -> bytes:
    """A valid 1-bit black PNG of that size; zero rows compress to a few KB."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body)
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    packer, row = zlib.compressobj(9), bytes(1 + (width + 7) // 8)
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + b"".join(
        [chunk(b"IHDR", header), chunk(b"IDAT", idat), chunk(b"IEND", b"")]
    )


def darkness_model(path: Path) -> Path:
    """Save a toy segmentation model: foreground = darkness (−mean of channels).

    rembg's u2net sessions feed the first input [1, 3, 320, 320] ImageNet-
    normalised floats and min-max normalise channel 0 of the first output, so
    this stands in for u2net in tests (input [1, 3, H, W] → output [1, 1, H, W]).
    """
    import onnx
    from onnx import TensorProto, helper

    image = helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, "h", "w"])
    mask = helper.make_tensor_value_info("mask", TensorProto.FLOAT, [1, 1, "h", "w"])
    nodes = [
        helper.make_node("ReduceMean", ["image"], ["mean"], axes=[1], keepdims=1),
        helper.make_node("Neg", ["mean"], ["mask"]),
    ]
    graph = helper.make_graph(nodes, "darkness", [image], [mask])
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8
    )
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path
