"""Real checkpoints from ../shared/weights on real images from ../shared/data (skip when absent).

- leftthomas SRGAN (third-party, natural images) loads strictly with its sha256 and beats bicubic
  PSNR. LR images are made like its training data: PIL bicubic (antialiased) x4 downscaling.
- Official Real-ESRGAN compact checkpoints through this engine reproduce realesrgan's RealESRGANer
  (the official helper) to its 8-bit rounding (<= 0.5/255 + float noise), for RGB and grayscale (luma
  policy = what RealESRGANer does), and within 2/255 for x2-from-x4 (RealESRGANer rounds to 8 bit
  before its Lanczos resize; this engine does not).
- Tiled inference on a real image: tile_pad 10 (default) stays within 3/255 max / 0.1/255 mean of
  untiled; tile_pad >= 2 x receptive radius (SRVGG num_conv=16: 18 px) is identical to 1e-4.
"""

from __future__ import annotations

import glob

import cv2
import numpy as np
import pytest
from PIL import Image

from medsr_bench.models import get_spec, load_model

pytestmark = pytest.mark.shared


def psnr(a, b):
    return 10 * np.log10(1.0 / np.mean((a.astype(np.float64) - b) ** 2))


def pil_bicubic_down(hr: np.ndarray, s: int) -> np.ndarray:
    """float (H, W[, 3]) in [0, 1] -> (H//s, W//s[, 3]) by PIL bicubic (antialiased), per channel."""
    if hr.ndim == 3:
        return np.stack([pil_bicubic_down(hr[..., c], s) for c in range(hr.shape[2])], -1)
    h, w = hr.shape
    im = Image.fromarray(hr.astype(np.float32), "F").resize((w // s, h // s), Image.BICUBIC)
    return np.clip(np.asarray(im, np.float32), 0, 1)


def real_images(root):
    drive = sorted(glob.glob(str(root / "DRIVE" / "training" / "images" / "*.tif")))[:2]
    cxr = sorted(glob.glob(str(root / "NIH_ChestXray14" / "images" / "*.png")))
    out = []
    for f in drive:  # RGB fundus images, cropped to a multiple of 4
        im = cv2.imread(f, cv2.IMREAD_COLOR)[..., ::-1].astype(np.float32) / 255
        out.append((f, im[:576, :564]))
    n = 0
    for f in cxr:  # grayscale CXR at 512x512 (area-resized from 1024)
        im = cv2.imread(f, cv2.IMREAD_UNCHANGED)
        if im.ndim != 2 or n == 2:
            continue
        out.append((f, cv2.resize(im, (512, 512), interpolation=cv2.INTER_AREA).astype(np.float32) / 255))
        n += 1
    assert len(out) == 4, "expected 2 DRIVE and 2 ChestX-ray14 images"
    return out


def test_leftthomas_srgan_beats_bicubic(shared_weights, shared_data):
    m = load_model("srgan-leftthomas-x4", shared_weights, "cpu")
    w = m.info()["weights"]
    assert w["sha256_verified"] and w["key"] is None
    bic = load_model("bicubic")
    for f, hr in real_images(shared_data):
        lr = pil_bicubic_down(hr, 4)
        p_sr = psnr(m.upscale(lr[None], 4)[0], hr)
        p_bic = psnr(bic.upscale(lr[None], 4)[0], hr)
        assert p_sr > p_bic + 0.2, f"{f}: SRGAN {p_sr:.2f} dB vs bicubic {p_bic:.2f} dB"


def _helper(name, folder):
    from realesrgan import RealESRGANer

    spec = get_spec(name)
    return RealESRGANer(scale=spec.scale, model_path=str(folder / spec.pretrained.file),
                        model=spec.arch(), tile=0, pre_pad=0, half=False, device="cpu")


@pytest.fixture(scope="module")
def crops(shared_data):
    cxr = sorted(glob.glob(str(shared_data / "NIH_ChestXray14" / "images" / "*.png")))[0]
    drive = sorted(glob.glob(str(shared_data / "DRIVE" / "training" / "images" / "*.tif")))[0]
    gray = cv2.resize(cv2.imread(cxr, cv2.IMREAD_GRAYSCALE), (48, 48), interpolation=cv2.INTER_AREA)
    bgr = cv2.resize(cv2.imread(drive, cv2.IMREAD_COLOR), (48, 48), interpolation=cv2.INTER_AREA)
    return gray, bgr


@pytest.mark.parametrize("name", ["realesr-animevideov3", "realesrgan-animevideo-xsx4",
                                  "realesrgan-animevideo-xsx2"])
def test_official_compact_matches_realesrganer(name, shared_weights, crops):
    gray, bgr = crops
    spec = get_spec(name)
    m = load_model(name, shared_weights, "cpu", gray="luma")
    assert m.info()["weights"]["sha256_verified"] and m.info()["weights"]["key"] == "params"
    helper = _helper(name, shared_weights)
    s = spec.scale
    ref, _ = helper.enhance(gray, outscale=s)
    ours = m.upscale(gray[None].astype(np.float32) / 255, s)[0]
    assert np.abs(ref / 255 - ours).max() <= 0.5 / 255 + 1e-4
    ref, _ = helper.enhance(bgr, outscale=s)
    ours = m.upscale(bgr[None, ..., ::-1].astype(np.float32) / 255, s)[0][..., ::-1]
    assert np.abs(ref / 255 - ours).max() <= 0.5 / 255 + 1e-4
    if s == 4:  # official --outscale 2 (x4, then Lanczos)
        ref, _ = helper.enhance(bgr, outscale=2)
        ours = m.upscale(bgr[None, ..., ::-1].astype(np.float32) / 255, 2)[0][..., ::-1]
        assert ref.shape == ours.shape and np.abs(ref / 255 - ours).max() <= 2 / 255


def test_native_x2_companion_with_real_weights(shared_weights, crops):
    _, bgr = crops
    lr = bgr[None, ..., ::-1].astype(np.float32) / 255
    m = load_model("realesrgan-animevideo-xsx4", shared_weights, "cpu", x2_mode="native-x2")
    direct = load_model("realesrgan-animevideo-xsx2", shared_weights, "cpu")
    np.testing.assert_array_equal(m.upscale(lr, 2), direct.upscale(lr, 2))
    assert m.info()["x2_model"]["weights"]["file"] == "RealESRGANv2-animevideo-xsx2.pth"


def test_tiling_on_real_image(shared_weights, shared_data):
    f = sorted(glob.glob(str(shared_data / "NIH_ChestXray14" / "images" / "*.png")))[0]
    im = cv2.imread(f, cv2.IMREAD_GRAYSCALE).astype(np.float32) / 255
    lr = cv2.resize(im, (80, 80), interpolation=cv2.INTER_AREA)[None]
    name = "realesr-animevideov3"
    full = load_model(name, shared_weights, "cpu").upscale(lr, 4)
    d = np.abs(load_model(name, shared_weights, "cpu", tile=32, tile_pad=10).upscale(lr, 4) - full)
    assert d.max() <= 3 / 255 and d.mean() <= 0.1 / 255
    exact = load_model(name, shared_weights, "cpu", tile=16, tile_pad=36).upscale(lr, 4)
    assert np.abs(exact - full).max() <= 1e-4
