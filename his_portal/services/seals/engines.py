"""Ink-mask engines behind :mod:`his_portal.services.seals.image`.

Each engine turns a working copy of the photo (long side ≤ 2000 px) into an
:class:`InkMap`: a boolean foreground mask, a soft alpha for anti-aliased edges
and the estimated paper brightness (used to recover the true ink colour).

The built-in engine needs no model. It flattens the lighting by dividing by an
estimate of the blank paper, thresholds the resulting "darkness" with
hysteresis, and subtracts long thin light structures (ruled lines) first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image
from scipy import ndimage

__all__ = ["InkMap", "builtin_ink", "paper_background", "rembg_ink"]

# Window of the closing that estimates the paper, as a fraction of the long
# side: ink narrower than this vanishes from the estimate (pen strokes, even
# crossing ones); a larger blot would be taken for paper.
_PAPER_WINDOW = 1 / 20
# A ruled line must run at least this long (fraction of the sheet) to be seen.
_LINE_FRACTION = 1 / 25
# Light lines are subtracted, never ones darker than this: those look like ink.
_LINE_MAX_DARKNESS = 0.4


@dataclass(frozen=True)
class InkMap:
    """Engine output at working resolution."""

    mask: np.ndarray  # bool (h, w): ink pixels
    alpha: np.ndarray  # float32 (h, w) in 0–1: ink opacity incl. soft edges
    background: np.ndarray  # float32 (h, w): paper brightness 0–255


def _page_border(closed: np.ndarray, *, reach: int) -> np.ndarray:
    # Off the sheet (desk, table) the closing is exact, but the smoothing in
    # paper_background blends the bright page into it and the page edge would
    # read as a long dark stroke. The desk side of a page edge is a sharp step
    # (a shadow edge is soft) into a dark area that reaches the photo's frame
    # (a big ink blot does not).
    step = closed < 0.75 * ndimage.maximum_filter(closed, size=5)
    labels, _ = ndimage.label(closed < 0.75 * np.percentile(closed, 90))
    frame = np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])
    outside = np.isin(labels, frame[frame > 0])
    return ndimage.binary_dilation(step & outside, iterations=reach)


def paper_background(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Estimate the brightness of blank paper under the photo's lighting.

    Args:
        gray: Greyscale image, uint8 (h, w).

    Returns:
        float32 (h, w) paper brightness (≥ 1), and a bool (h, w) map of the
        band along sharp borders such as the page edge against a dark desk.
    """
    h, w = gray.shape
    # A coarse copy (~500 px) keeps the big filters cheap; lighting is smooth.
    factor = max(1, round(max(h, w) / 500))
    small = np.asarray(Image.fromarray(gray).reduce(factor), np.float32)
    size = max(3, round(max(h, w) * _PAPER_WINDOW / factor) | 1)
    # Closing (max then min) removes ink narrower than the window yet, unlike a
    # plain max filter, keeps shadow edges in place instead of widening the
    # bright side over the dark one.
    closed = ndimage.grey_closing(small, size=(size, size))
    # Closing also fills the dark knee of a soft shadow edge (a valley narrower
    # than the window) and would report it as ink. So only mark as ink what is
    # dark next to nearby paper (a small closing spans a stroke, not a
    # shadow), or very dark overall, and average the remaining paper pixels
    # with narrow kernels that follow shadow edges.
    near = ndimage.grey_closing(small, size=(size // 3 | 1,) * 2)
    # Thick strokes escape the small closing; they are told from a narrow
    # shadow (a pen lying on the sheet) by their sharp edges.
    sharp = ndimage.gaussian_gradient_magnitude(small, 1.0) > 0.08 * closed
    thick = (small < 0.7 * closed) & ndimage.binary_dilation(
        sharp, iterations=max(1, size // 4)
    )
    ink = (small < 0.93 * near) | thick
    paper_like = (~ndimage.binary_dilation(ink)).astype(np.float32)
    paper = ndimage.gaussian_filter(closed, size / 6)
    for sigma in (size / 3, size / 8):  # coarse to fine: finer wins if trusted
        weight = ndimage.gaussian_filter(paper_like, sigma)
        mean = ndimage.gaussian_filter(small * paper_like, sigma)
        trust = np.clip(weight / 0.3, 0, 1)
        paper = trust * mean / np.maximum(weight, 1e-6) + (1 - trust) * paper
    border = _page_border(closed, reach=max(2, size // 6))
    paper = np.where(border, closed, paper)
    big = Image.fromarray(paper, "F").resize((w, h), Image.Resampling.BILINEAR)
    edge = Image.fromarray(border).resize((w, h), Image.Resampling.NEAREST)
    return np.maximum(np.asarray(big), 1.0), np.asarray(edge)


def _line_darkness(dark: np.ndarray, length: int) -> np.ndarray:
    # Grey opening along rows: how dark the long horizontal structure through
    # each pixel is. The 3-row max first tolerates slightly tilted lines.
    tall = ndimage.maximum_filter1d(dark, 3, axis=0)
    opened = ndimage.minimum_filter1d(tall, length, axis=1)
    return ndimage.maximum_filter1d(opened, length, axis=1)


def _ruled_lines(dark: np.ndarray, *, limit: float) -> np.ndarray:
    """Darkness to subtract for long, thin, light horizontal lines (rows)."""
    length = max(40, round(dark.shape[1] * _LINE_FRACTION))
    lines = _line_darkness(dark, length)
    light = (lines > 0.06) & (lines < min(limit, _LINE_MAX_DARKNESS))
    labels, count = ndimage.label(light, structure=np.ones((3, 3)))
    keep = np.zeros(count + 1, bool)
    for index, box in enumerate(ndimage.find_objects(labels), start=1):
        along, across = box[1].stop - box[1].start, box[0].stop - box[0].start
        # Ruled lines cross a good part of the sheet and stay thin; stroke
        # edges picked up by the opening are short or curve over many rows.
        keep[index] = along >= 4 * length and across <= 0.03 * along + 8
    # The opening measures the line's own darkness even where a pen stroke
    # crosses it, so the stroke keeps its darkness minus the line's.
    return np.where(keep[labels], lines, 0).astype(np.float32)


def _components(low: np.ndarray, seeds: np.ndarray, min_area: int) -> np.ndarray:
    # Hysteresis and speck removal in one labelling: keep the connected parts
    # of the faint mask that contain a confident seed and are not tiny.
    labels, count = ndimage.label(low, structure=np.ones((3, 3)))
    area = np.bincount(labels.ravel(), minlength=count + 1)
    seeded = np.bincount(labels[seeds & low], minlength=count + 1)
    keep = (area >= min_area) & (seeded > 0)
    keep[0] = False
    return keep[labels]


def _thresholds(strength: int, noise: float) -> tuple[float, float]:
    s = strength / 100
    # strength 0 → only solid ink; 100 → keep strokes 12% darker than paper.
    low = max(0.42 - 0.30 * s, 4 * noise)
    high = max(low + 0.1, 0.5 - 0.15 * s)
    return low, high


def _soft_alpha(
    value: np.ndarray, mask: np.ndarray, lo: float, hi: float
) -> np.ndarray:
    ramp = np.clip((value - lo) / max(hi - lo, 1e-3), 0, 1)
    # Let the anti-aliased fringe one pixel around the mask through, nothing else.
    near = ndimage.binary_dilation(mask, structure=np.ones((3, 3)))
    return (ramp * near).astype(np.float32)


def _min_area(shape: tuple[int, ...]) -> int:
    return max(4, round(shape[0] * shape[1] * 5e-6))


def builtin_ink(gray: np.ndarray, *, strength: int) -> InkMap:
    """Find pen ink on paper without a model.

    Args:
        gray: Greyscale working image, uint8 (h, w).
        strength: 0–100, how much faint ink to keep.

    Returns:
        The ink map at the size of ``gray``.
    """
    paper, border = paper_background(gray)
    ratio = gray.astype(np.float32) / paper
    # Robust spread of the paper around its estimate (sensor noise, texture).
    noise = 1.4826 * float(np.median(np.abs(ratio - np.median(ratio))))
    dark = 1 - np.minimum(ratio, 1)
    dark[border] = 0  # a page edge is never ink
    low, high = _thresholds(strength, noise)
    dark -= _ruled_lines(dark, limit=high)
    dark -= _ruled_lines(dark.T, limit=high).T
    seeds = dark > high
    if seeds.any():
        # Faint pens (pencil, a dry ballpoint): put the edge at a share of the
        # ink's own darkness instead of an absolute level.
        level = float(np.median(dark[seeds]))
        low = min(low, max(level * (0.6 - 0.4 * strength / 100), 4 * noise, 0.12))
    mask = _components(dark > low, seeds, _min_area(gray.shape))
    level = float(np.median(dark[mask])) if mask.any() else 1.0
    alpha = _soft_alpha(dark, mask, 0.6 * low, max(0.75 * level, low + 0.05))
    return InkMap(mask=mask, alpha=alpha, background=paper)


def rembg_ink(
    image: Image.Image, gray: np.ndarray, *, strength: int, session: Any
) -> InkMap:
    """Find the foreground with a rembg session (a segmentation model).

    Args:
        image: RGB working image.
        gray: The same image in greyscale, uint8.
        strength: 0–100; a higher value keeps less certain foreground.
        session: A session from :func:`seal_image.make_rembg_session`.

    Returns:
        The ink map at the size of ``image``.
    """
    from rembg import remove  # heavy import (numba via pymatting): load on use

    matte = remove(image, session=session, only_mask=True)
    soft = np.asarray(matte.convert("L"), np.float32) / 255
    cut = 0.7 - 0.4 * strength / 100
    seeds = soft > min(cut + 0.2, 0.95)
    mask = _components(soft > cut, seeds, _min_area(soft.shape))
    alpha = _soft_alpha(soft, mask, cut - 0.25, cut + 0.25)
    return InkMap(mask=mask, alpha=alpha, background=paper_background(gray)[0])
