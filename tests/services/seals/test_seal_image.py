"""Signature photo → transparent seal PNG: decoding, extraction quality, options."""

from __future__ import annotations

import socket
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFile

from his_portal.services.seals.image import (
    SealImageError,
    SealOptions,
    decode_upload,
    extract_signature,
    make_rembg_session,
)
from tests.services.seals.seal_synthetic import (
    darkness_model,
    iou,
    png_bomb,
    synthetic_photo,
)

ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts"
NO_INK = "未识别到签名笔迹，请在白纸上用深色笔书写后重新拍照"
CORRUPT = "图片文件已损坏或不完整"
# Every combination of ink, ruled lines and shadow, several times over.
CASES = [
    (seed, ("black", "blue")[seed % 2], seed % 4 < 2, seed % 3 != 2)
    for seed in range(12)
]
EXAMPLE_SEED = 9  # blue ink, ruled lines, a shadow and a printed name


def _encode(image: Image.Image, fmt: str, **params) -> bytes:
    buffer = BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def _seal(result) -> Image.Image:
    return Image.open(BytesIO(result.png))


def _stroke_image(size=(1000, 600), box=(300, 200, 500, 260)) -> Image.Image:
    image = Image.new("RGB", size, (238, 236, 230))
    ImageDraw.Draw(image).rectangle(box, fill=(25, 25, 30))
    return image


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


# --- decode_upload ---------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "请选择图片文件"),
        (b"hello, this is a text file\n", "仅支持 JPG、PNG、WebP 格式的图片"),
        (_encode(Image.new("RGB", (8, 8)), "GIF"), "仅支持 JPG、PNG、WebP 格式的图片"),
        (b"\xff\xd8\xff" + bytes(10 * 1024 * 1024), "图片不能超过10MB"),
        (png_bomb(8000, 6000), "图片像素过大（超过4000万像素）"),
        (png_bomb(20000, 20000), "图片像素过大（超过4000万像素）"),
    ],
    ids=["empty", "text", "gif", "over-10mb", "48mp-bomb", "400mp-bomb"],
)
def test_decode_refuses_bad_uploads(data, message):
    with pytest.raises(SealImageError) as caught:
        decode_upload(data)
    assert caught.value.message == message


def test_decode_size_limit_is_configurable():
    png = _encode(Image.new("RGB", (64, 64), "white"), "PNG")
    with pytest.raises(SealImageError, match="图片不能超过"):
        decode_upload(png, max_bytes=len(png) - 1)
    assert decode_upload(png, max_bytes=len(png)).size == (64, 64)


def test_decode_refuses_truncated_jpeg():
    noise = np.random.default_rng(1).integers(0, 255, (200, 200, 3), np.uint8)
    jpeg = _encode(Image.fromarray(noise), "JPEG", quality=90)
    with pytest.raises(SealImageError) as caught:
        decode_upload(jpeg[: len(jpeg) // 2])
    assert caught.value.message == CORRUPT
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


@pytest.mark.parametrize("fmt", ["WEBP", "PNG"])
def test_decode_refuses_animations(fmt):
    frames = [Image.new("RGB", (32, 32), colour) for colour in ("red", "blue")]
    data = _encode(frames[0], fmt, save_all=True, append_images=frames[1:])
    with pytest.raises(SealImageError) as caught:
        decode_upload(data)
    assert caught.value.message == "不支持动图或多帧图片"


def test_decode_accepts_mpo_phone_jpeg():
    # Phones store depth maps/previews as extra MPO frames: keep the first one.
    frames = [Image.new("RGB", (40, 30), "white"), Image.new("RGB", (20, 15), "red")]
    data = _encode(frames[0], "MPO", save_all=True, append_images=frames[1:])
    assert data.startswith(b"\xff\xd8\xff")
    assert decode_upload(data).size == (40, 30)


def test_decode_applies_exif_orientation():
    exif = Image.Exif()
    exif[0x0112] = 6  # the sensor image must be turned 90° clockwise
    data = _encode(Image.new("RGB", (300, 200), "white"), "JPEG", exif=exif)
    image = decode_upload(data)
    assert (image.size, image.mode) == ((200, 300), "RGB")


def test_decode_flattens_transparency_on_white():
    image = Image.new("RGBA", (40, 40), (0, 0, 0, 0))
    ImageDraw.Draw(image).rectangle((10, 10, 29, 29), fill=(0, 0, 255, 255))
    decoded = decode_upload(_encode(image, "PNG"))
    assert decoded.getpixel((2, 2)) == (255, 255, 255)
    assert decoded.getpixel((20, 20)) == (0, 0, 255)


def test_decode_accepts_webp_and_ignores_file_name():
    webp = _encode(Image.new("RGB", (50, 40), "white"), "WEBP")
    assert decode_upload(webp).size == (50, 40)


# --- built-in engine quality -----------------------------------------------


@pytest.fixture(scope="module")
def photos():
    return {
        seed: synthetic_photo(seed, ink=ink, lines=lines, shadow=shadow)
        for seed, ink, lines, shadow in CASES
    }


def test_builtin_engine_iou_on_synthetic_photos(photos):
    scores = []
    for seed, ink, lines, shadow in CASES:
        photo, truth = photos[seed]
        result = extract_signature(photo, SealOptions())
        assert result.mask.shape == truth.shape and result.mask.dtype == bool
        scores.append(iou(result.mask, truth))
        print(
            f"seed={seed:2d} ink={ink:5s} lines={lines!s:5s} shadow={shadow!s:5s}"
            f" IoU={scores[-1]:.3f}"
        )
    print(
        f"seal IoU mean={np.mean(scores):.3f} min={min(scores):.3f}"
        f" over {len(scores)} photos"
    )
    assert np.mean(scores) >= 0.9
    assert min(scores) >= 0.85


def test_builtin_engine_saves_example(photos):
    photo, _ = photos[EXAMPLE_SEED]
    result = extract_signature(photo, SealOptions())
    ARTIFACTS.mkdir(exist_ok=True)
    photo.save(ARTIFACTS / "seal-example-input.jpg", quality=90)
    (ARTIFACTS / "seal-example-output.png").write_bytes(result.png)
    seal = _seal(result)
    assert seal.mode == "RGBA" and seal.width <= 600 and seal.height <= 240
    red, _, blue = np.asarray(seal)[np.asarray(seal)[..., 3] == 255][:, :3].T
    assert np.median(blue) > np.median(red) + 40  # "keep" keeps the blue pen


def test_builtin_engine_works_on_a_12_megapixel_photo(photos):
    """Full-size phone photos (speed is measured by `make bench`, not here)."""
    photo, truth = photos[EXAMPLE_SEED]
    big = photo.resize((4000, 3000), Image.Resampling.BICUBIC)
    result = extract_signature(big, SealOptions())
    big_truth = Image.fromarray(truth).resize(big.size, Image.Resampling.NEAREST)
    assert result.mask.shape == (3000, 4000)
    assert iou(result.mask, np.asarray(big_truth)) >= 0.85


def test_blank_or_white_photo_has_no_ink():
    white = Image.new("RGB", (800, 600), (246, 246, 242))
    blank, _ = synthetic_photo(3, size=(800, 600), blank=True)
    for photo in (decode_upload(_encode(white, "JPEG", quality=75)), blank):
        with pytest.raises(SealImageError) as caught:
            extract_signature(photo, SealOptions())
        assert caught.value.message == NO_INK


# --- options -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("ink", "rgb"), [("black", (0, 0, 0)), ("blue", (0x1A, 0x2A, 0x6C))]
)
def test_fixed_ink_colour(ink, rgb):
    seal = np.asarray(_seal(extract_signature(_stroke_image(), SealOptions(ink=ink))))
    opaque = seal[seal[..., 3] == 255]
    assert len(opaque) > 100
    assert {tuple(pixel) for pixel in opaque[:, :3]} == {rgb}


def test_output_is_rgba_with_transparent_corners():
    seal = _seal(extract_signature(_stroke_image(), SealOptions()))
    assert seal.mode == "RGBA"
    w, h = seal.size
    assert all(seal.getpixel(xy)[3] == 0 for xy in [(0, 0), (w - 1, 0), (0, h - 1)])


def test_crop_is_tight_with_margin():
    result = extract_signature(_stroke_image(), SealOptions())
    rows, cols = np.nonzero(result.mask)
    box_w, box_h = cols.max() + 1 - cols.min(), rows.max() + 1 - rows.min()
    margin = max(4, round(0.06 * max(box_w, box_h)))
    width, height = box_w + 2 * margin, box_h + 2 * margin
    factor = min(600 / width, 240 / height, 2.0)
    seal = _seal(result)
    assert seal.size == (round(width * factor), round(height * factor))
    alpha = np.asarray(seal)[..., 3]
    ink_rows, ink_cols = np.nonzero(alpha > 128)
    scaled = margin * factor
    right, bottom = seal.width - 1 - ink_cols.max(), seal.height - 1 - ink_rows.max()
    for gap in (ink_rows.min(), ink_cols.min(), right, bottom):
        assert scaled - 3 <= gap <= scaled + 3


def test_no_crop_keeps_the_whole_photo_and_never_upscales_beyond_2x():
    seal = _seal(extract_signature(_stroke_image(), SealOptions(crop=False)))
    assert seal.size == (400, 240)
    small = _stroke_image(size=(120, 60), box=(20, 20, 100, 35))
    seal = _seal(extract_signature(small, SealOptions(crop=False)))
    assert seal.size == (240, 120)


def test_large_photo_fits_600_by_240(photos):
    seal = _seal(extract_signature(photos[0][0], SealOptions()))
    assert seal.width <= 600 and seal.height <= 240
    assert 600 in seal.size or 240 in seal.size


def test_rotate_90_is_clockwise_and_swaps_dimensions():
    image = _stroke_image(box=(300, 250, 700, 270))
    ImageDraw.Draw(image).rectangle((300, 200, 340, 250), fill=(25, 25, 30))
    upright = _seal(extract_signature(image, SealOptions()))
    turned = _seal(extract_signature(image, SealOptions(rotate=90)))
    assert upright.width > upright.height and turned.height > turned.width
    assert abs(upright.width / upright.height - turned.height / turned.width) < 0.05
    # The blob sat at the left end: after a clockwise turn it is at the top.
    alpha = np.asarray(turned)[..., 3].astype(float)
    third = turned.height // 3
    assert alpha[:third].sum() > 1.5 * alpha[-third:].sum()


def test_invalid_options_are_refused():
    for bad in ({"rotate": 45}, {"strength": 101}, {"ink": "red"}, {"engine": "x"}):
        with pytest.raises(SealImageError):
            SealOptions(**bad)


# --- rembg engine ------------------------------------------------------------


def test_rembg_engine_with_local_onnx_model(tmp_path, no_network):
    darkness_model(tmp_path / "darkness.onnx")
    photo, truth = synthetic_photo(5, size=(640, 480), lines=False, shadow=False)
    for model in ("darkness.onnx", str(tmp_path / "darkness.onnx")):
        session = make_rembg_session(model, models_dir=tmp_path)
        result = extract_signature(
            photo, SealOptions(engine="rembg"), rembg_session=session
        )
        assert iou(result.mask, truth) >= 0.7
        seal = _seal(result)
        assert seal.mode == "RGBA" and seal.getpixel((0, 0))[3] == 0


def test_rembg_named_model_loads_from_models_dir_without_download(tmp_path, no_network):
    darkness_model(tmp_path / "u2net.onnx")  # stands in for the real u2net
    session = make_rembg_session("u2net", models_dir=tmp_path)
    result = extract_signature(
        _stroke_image(), SealOptions(engine="rembg"), rembg_session=session
    )
    assert result.ink_ratio > 0


@pytest.mark.parametrize("model", ["u2net", "isnet-general-use", "missing.onnx"])
def test_rembg_missing_model_is_an_error_not_a_download(tmp_path, no_network, model):
    with pytest.raises(SealImageError) as caught:
        make_rembg_session(model, models_dir=tmp_path)
    assert caught.value.message.startswith("未找到背景消除模型：")


def test_rembg_engine_needs_a_session():
    with pytest.raises(SealImageError):
        extract_signature(_stroke_image(), SealOptions(engine="rembg"))
