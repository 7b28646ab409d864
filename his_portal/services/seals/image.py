"""Turn a photo of a handwritten signature into a transparent PNG (个性签章).

:func:`decode_upload` is the only way uploaded bytes become an image: it checks
size, format (by magic bytes), pixel count and integrity before decoding.
:func:`extract_signature` finds the ink (built-in engine, or a local rembg
model from :func:`make_rembg_session`), recolours, rotates, crops and scales it.
Errors are :class:`SealImageError` whose ``message`` is shown to the user.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from his_portal.errors import HisError
from his_portal.services.seals.engines import InkMap, builtin_ink, rembg_ink

__all__ = [
    "ENGINES",
    "INK_COLOURS",
    "SealImageError",
    "SealOptions",
    "SealResult",
    "decode_upload",
    "extract_signature",
    "make_rembg_session",
]

ENGINES = ("builtin", "rembg")
#: Fixed ink colours; "keep" uses the pen colour measured in the photo.
INK_COLOURS: MappingProxyType[str, tuple[int, int, int]] = MappingProxyType(
    {"black": (0, 0, 0), "blue": (0x1A, 0x2A, 0x6C)}
)
_ROTATIONS = {
    0: None,
    90: Image.Transpose.ROTATE_270,  # PIL's ROTATE_* turn counter-clockwise
    180: Image.Transpose.ROTATE_180,
    270: Image.Transpose.ROTATE_90,
}
_OUTPUT_BOX = (600, 240)
_MAX_UPSCALE = 2.0
_WORK_SIDE = 2000  # masks are computed at most this large, then upsampled
_MIN_INK = 0.0005  # below 0.05 % of the photo there is no signature
_NO_INK = "未识别到签名笔迹，请在白纸上用深色笔书写后重新拍照"
_CORRUPT = "图片文件已损坏或不完整"


class SealImageError(HisError):
    """The image cannot become a seal; ``message`` is the Chinese text to show."""


@dataclass(frozen=True, kw_only=True)
class SealOptions:
    """How to extract the signature (the choices on the upload dialog)."""

    engine: str = "builtin"
    strength: int = 50  # 0–100: how much faint ink is kept
    ink: str = "keep"  # "keep" | "black" | "blue"
    rotate: int = 0  # clockwise degrees: 0, 90, 180, 270
    crop: bool = True  # crop to the ink plus a small margin

    def __post_init__(self) -> None:
        valid = (
            self.engine in ENGINES
            and isinstance(self.strength, int)
            and 0 <= self.strength <= 100
            and (self.ink == "keep" or self.ink in INK_COLOURS)
            and self.rotate in _ROTATIONS
        )
        if not valid:
            raise SealImageError("签章处理参数无效")


@dataclass(frozen=True)
class SealResult:
    """The finished seal and what was detected."""

    png: bytes  # RGBA PNG, transparent background, fits 600×240
    mask: np.ndarray  # bool, input size, before rotation/crop/scale
    ink_ratio: float  # share of the input pixels that are ink


def _size_text(limit: int) -> str:
    if limit >= 1024 * 1024:
        return f"{limit / (1024 * 1024):.3g}MB"
    return f"{-(-limit // 1024)}KB"


def _is_supported(data: bytes) -> bool:
    return (
        data.startswith(b"\xff\xd8\xff")
        or data.startswith(b"\x89PNG\r\n\x1a\n")
        or (data[:4] == b"RIFF" and data[8:12] == b"WEBP")
    )


def decode_upload(
    data: bytes, *, max_bytes: int = 10 * 1024 * 1024, max_pixels: int = 40_000_000
) -> Image.Image:
    """Validate and decode uploaded bytes into an upright RGB image.

    Args:
        data: The uploaded file content.
        max_bytes: Largest accepted file size.
        max_pixels: Largest accepted width × height, read from the header.

    Returns:
        An RGB image, EXIF orientation applied, transparency flattened on white.

    Raises:
        SealImageError: Empty, too big, not JPEG/PNG/WebP, too many pixels,
            animated/multi-frame, or corrupt/truncated.
    """
    if not data:
        raise SealImageError("请选择图片文件")
    data = bytes(data)  # uploads may arrive as bytearray or memoryview
    if len(data) > max_bytes:
        raise SealImageError(f"图片不能超过{_size_text(max_bytes)}")
    # Trust the content, never the file name or the browser's content type.
    if not _is_supported(data):
        raise SealImageError("仅支持 JPG、PNG、WebP 格式的图片")
    too_big = SealImageError(f"图片像素过大（超过{max_pixels / 10_000:g}万像素）")
    try:
        image = Image.open(BytesIO(data), formats=["JPEG", "PNG", "WEBP"])
    except Image.DecompressionBombError as exc:
        raise too_big from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise SealImageError(_CORRUPT) from exc
    # Only the header has been read so far: refuse before allocating pixels.
    if image.width * image.height > max_pixels:
        raise too_big
    # Many phones write MPO (a JPEG plus embedded depth/preview images): the
    # first frame is the photo itself, so it is not treated as multi-frame.
    if image.format != "MPO" and (
        getattr(image, "n_frames", 1) > 1 or getattr(image, "is_animated", False)
    ):
        raise SealImageError("不支持动图或多帧图片")
    try:
        # ImageFile.LOAD_TRUNCATED_IMAGES is never set, so a cut-off file fails.
        image.load()
    except (
        OSError,
        SyntaxError,
        ValueError,
        EOFError,
        Image.DecompressionBombError,
    ) as exc:
        raise SealImageError(_CORRUPT) from exc
    # A broken EXIF block only costs the orientation hint, not the upload.
    with contextlib.suppress(OSError, SyntaxError, ValueError, KeyError, TypeError):
        image = ImageOps.exif_transpose(image)
    if image.has_transparency_data:
        white = Image.new("RGBA", image.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, image.convert("RGBA")).convert("RGB")
    return image.convert("RGB")


def make_rembg_session(model: str, *, models_dir: Path) -> Any:
    """Load a local background-removal model through rembg, never downloading.

    Args:
        model: An ``.onnx`` file (absolute, or a name inside ``models_dir``)
            loaded as rembg's ``u2net_custom``; or a rembg model name such as
            ``"u2net"`` whose file ``<models_dir>/<name>.onnx`` must exist.
        models_dir: Directory holding the model files.

    Returns:
        A rembg session for :class:`SealOptions` ``engine="rembg"``.

    Raises:
        SealImageError: The file is missing, the model is unknown or remote,
            or onnxruntime cannot load it.
    """
    if not model.strip():
        raise SealImageError("未配置背景消除模型")
    custom = model.lower().endswith(".onnx")
    path = Path(model) if custom else Path(models_dir) / f"{model}.onnx"
    if not path.is_absolute():
        path = Path(models_dir) / path
    if not path.is_file():
        raise SealImageError(f"未找到背景消除模型：{path.name}")

    import onnxruntime as ort
    from rembg.sessions import sessions_class

    name = "u2net_custom" if custom else model
    base = next((c for c in sessions_class if c.name() == name), None)
    # Remote sessions would send a doctor's signature off-site: never allowed.
    if base is None or not base.is_local():
        raise SealImageError(f"不支持的背景消除模型：{model}")
    found = str(path)
    # rembg's download_models() fetches named models from the internet and
    # only accepts custom paths under ~/.rembg; the subclass hands over the
    # file we checked instead, so rembg's own pre/post-processing still runs.
    local = type(
        f"Local{base.__name__}",
        (base,),
        {"download_models": classmethod(lambda cls, *a, **k: found)},
    )
    try:
        return local(name, ort.SessionOptions(), model_path=found)
    except Exception as exc:  # onnxruntime raises its own exception types
        raise SealImageError(f"背景消除模型无法加载：{path.name}") from exc


def _pen_colour(work: Image.Image, ink: InkMap) -> tuple[int, int, int]:
    # Divide by the paper brightness so shadows and dim light do not turn blue
    # ink black; the median over the solid core ignores paper-tinted edges.
    core = ink.alpha >= 0.9
    if not core.any():
        core = ink.mask
    rgb = np.asarray(work, np.float32)[core]
    flat = np.clip(rgb * (255 / ink.background[core])[:, None], 0, 255)
    return tuple(int(v) for v in np.median(flat, axis=0).round())


def _crop_box(mask: np.ndarray) -> tuple[int, int, int, int]:
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    margin = max(4, round(0.06 * max(bottom - top, right - left)))
    return left - margin, top - margin, right + margin, bottom + margin


def _render(
    work: Image.Image, ink: InkMap, options: SealOptions, scale: float
) -> bytes:
    colour = INK_COLOURS.get(options.ink) or _pen_colour(work, ink)
    # The ink is one flat colour: transform only the alpha, so resampling can
    # never shift the colour of opaque pixels (LANCZOS overshoots at edges).
    alpha = Image.fromarray((ink.alpha * 255).round().astype(np.uint8), "L")
    if options.crop:
        # Pillow pads a box reaching past the edge with zeros (transparent).
        alpha = alpha.crop(_crop_box(ink.mask))
    if transpose := _ROTATIONS[options.rotate]:
        alpha = alpha.transpose(transpose)
    # Scale relative to the original photo, which is 1/scale × the work copy.
    width, height = alpha.width / scale, alpha.height / scale
    factor = min(_OUTPUT_BOX[0] / width, _OUTPUT_BOX[1] / height, _MAX_UPSCALE)
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    seal = Image.new("RGBA", size, (*colour, 0))
    seal.putalpha(alpha.resize(size, Image.Resampling.LANCZOS))
    buffer = BytesIO()
    seal.save(buffer, "PNG")
    return buffer.getvalue()


def extract_signature(
    image: Image.Image, options: SealOptions, *, rembg_session: Any = None
) -> SealResult:
    """Extract the handwritten signature from a photo as a transparent PNG.

    Args:
        image: The photo, as returned by :func:`decode_upload`.
        options: Engine, strength, ink colour, rotation and cropping.
        rembg_session: Required for ``engine="rembg"``.

    Returns:
        The PNG, the ink mask at the photo's size, and the ink share.

    Raises:
        SealImageError: No ink found, or the rembg engine has no session.
    """
    if image.mode != "RGB":
        image = image.convert("RGB")
    scale = min(1.0, _WORK_SIDE / max(image.size))
    work = image
    if scale < 1:
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        work = image.resize(size, Image.Resampling.BOX)
    gray = np.asarray(work.convert("L"))
    if options.engine == "rembg":
        if rembg_session is None:
            raise SealImageError("未配置背景消除模型")
        try:
            ink = rembg_ink(
                work, gray, strength=options.strength, session=rembg_session
            )
        except (RuntimeError, ValueError, OSError) as exc:
            raise SealImageError("背景消除失败，请改用内置算法") from exc
    else:
        ink = builtin_ink(gray, strength=options.strength)
    if ink.mask.mean() < _MIN_INK:
        raise SealImageError(_NO_INK)
    mask = ink.mask
    if work is not image:
        small = Image.fromarray(mask.astype(np.uint8) * 255, "L")
        mask = np.asarray(small.resize(image.size, Image.Resampling.BILINEAR)) >= 128
    png = _render(work, ink, options, scale)
    return SealResult(png=png, mask=mask, ink_ratio=float(mask.mean()))
