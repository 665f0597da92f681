"""Decoding image files into memory with Pillow (the ``folder:`` / ``csv:`` / list-file sources)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ..errors import UserError

GRAY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"}
WIDE_GRAY_MODES = {"I", "I;16", "I;16B", "I;16L", "F"}


def scan_headers(paths: list[Path], workers: int = 8) -> tuple[list[int], int]:
    """(positions of the files Pillow cannot identify, channels: 1 when every readable file is grey, else
    3), from each file's header only (fast on large sets): the one rule of streamed and in-memory files."""
    from PIL import Image

    def mode(p: Path) -> str | None:
        try:
            with Image.open(p) as im:
                return im.mode
        except Exception:  # noqa: BLE001 - bad files are reported by the caller
            return None

    with ThreadPoolExecutor(max(1, workers)) as pool:
        modes = list(pool.map(mode, paths, chunksize=256))
    bad = [i for i, m in enumerate(modes) if m is None]
    good = {m for m in modes if m is not None}
    return bad, (1 if good and good <= GRAY_MODES else 3)


CONVERT_FIRST = {".heic", ".heif", ".avif", ".jxl", ".svg", ".psd", ".exr", ".hdr", ".dng", ".raw", ".cr2", ".cr3", ".nef",
                 ".arw", ".orf", ".rw2", ".raf", ".jp2", ".j2k"}  # formats that need a Pillow plugin or a converter


def why_unreadable(path: str | Path) -> str:
    """Why Pillow cannot read the image at ``path``, in words a user can act on (for messages)."""
    from PIL import Image, UnidentifiedImageError

    if Path(path).is_symlink() and not Path(path).exists():
        return "a link to a file that does not exist"
    try:
        if Path(path).stat().st_size == 0:
            return "an empty file"
        with Image.open(path) as im:
            im.load()
    except Image.DecompressionBombError as e:
        return f"too large for Pillow's safety limit ({str(e).split('(')[-1].split(')')[0]}); downscale it"
    except UnidentifiedImageError:
        if Path(path).suffix.lower() in CONVERT_FIRST:
            return f"Pillow does not read {Path(path).suffix.lower()} files here; convert them to JPEG or PNG"
        return "not an image Pillow can identify (corrupt, or a format it does not read)"
    except OSError as e:
        return e.strerror or (str(e).splitlines() or [type(e).__name__])[0]
    except Exception as e:  # noqa: BLE001 - any decoder failure is the file's
        return (str(e).splitlines() or [type(e).__name__])[0]
    return "it failed to decode"


def bad_images_message(bad: list[str]) -> str:
    """The one-line error for unreadable image files, with the first one's reason."""
    from ._text import shown

    listed = ", ".join(map(shown, bad[:3])) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
    why = shown(why_unreadable(bad[0])) if bad else ""
    return (f"{len(bad)} image file(s) cannot be read: {listed} (the first: {why}); remove or replace them, or "
            "pass --skip-bad-images to train without them")


def _resize_crop(im, size: tuple[int, int]):
    """Scale so the image covers ``size`` (W, H) keeping its aspect ratio, then crop the centre:
    no distortion of non-square photos (the usual 'resize shorter side, centre crop')."""
    from PIL import Image

    (w, h), (tw, th) = im.size, size
    scale = max(tw / w, th / h)
    sw, sh = max(tw, round(w * scale)), max(th, round(h * scale))
    im = im.resize((sw, sh), Image.BILINEAR)
    left, top = (sw - tw) // 2, (sh - th) // 2
    return im.crop((left, top, left + tw, top + th))


def wide_gray_to_8bit(im):
    """A 16-bit, 32-bit or float grey Pillow image -> mode "L", scaled by what its values mean: 16-bit
    integers by 1/256; floats in [0, 1] by 255; 32-bit integers within 0..255 as they are; anything else
    (floats or integers beyond those ranges) by its own range, min -> 0 and max -> 255. (``convert`` alone
    clips at 255, so that float images in [0, 1] decode black.)"""
    lo, hi = im.getextrema()
    if im.mode.startswith("I;16"):
        scale, offset = 1 / 256, 0.0
    elif im.mode == "F" and lo >= 0 and hi <= 1:
        scale, offset = 255.0, 0.0
    elif im.mode == "I" and lo >= 0 and hi <= 255:
        scale, offset = 1.0, 0.0
    elif hi > lo:
        scale, offset = 255.0 / (hi - lo), -lo * 255.0 / (hi - lo)
    else:
        scale, offset = 0.0, 0.0 if hi <= 0 else 255.0
    if im.mode.startswith("I;16"):
        im = im.convert("I")
    return im.point(lambda v: v * scale + offset).convert("L")


def image_to_array(im, channels: int, size: tuple[int, int] | None) -> np.ndarray:
    """A Pillow image -> uint8 (H, W, channels): turned upright by its EXIF orientation, grey (16-bit,
    32-bit and float modes scaled to 8 bits, :func:`wide_gray_to_8bit`) or RGB, then scaled to cover
    ``size`` (W, H) and centre-cropped when it is not that size already. The one decoder of in-memory
    and streamed files alike."""
    from PIL import ImageOps

    im = ImageOps.exif_transpose(im)  # a phone photo stored sideways, with the rotation in its EXIF tag
    if im.mode in WIDE_GRAY_MODES:
        im = wide_gray_to_8bit(im)
    im = im.convert("L" if channels == 1 else "RGB")
    if size is not None and im.size != size:
        im = _resize_crop(im, size)
    arr = np.asarray(im, dtype=np.uint8)
    return arr[..., None] if arr.ndim == 2 else arr


def decode_file(path: Path, size: int, channels: int) -> np.ndarray:
    """One image file -> uint8 (size, size, channels) (:func:`image_to_array`), the one decoder of in-memory
    and streamed files. A JPEG is decoded at the smallest power-of-two reduction that still covers
    ``size`` (Pillow's draft mode), so a photo is never held at full resolution; raises OSError or
    ValueError on a bad file."""
    from PIL import Image

    with Image.open(path) as im:
        if im.format == "JPEG":
            im.draft(im.mode, (size, size))
        return image_to_array(im, channels, (size, size))


def decode_all(paths: list[Path], size: int, channels: int, skip_bad: bool = False,
               workers: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 (N', size, size, channels) images, int64 (N',) positions in ``paths`` of the images kept),
    decoded one file at a time into one array (:func:`decode_file`). A file that fails to decode stops
    with the list of such files or, with ``skip_bad``, is left out."""
    out = np.empty((len(paths), size, size, channels), dtype=np.uint8)

    def one(i: int) -> bool:
        try:
            out[i] = decode_file(paths[i], size, channels)
            return True
        except Exception:  # noqa: BLE001 - truncated, corrupt, not an image, unreadable: all the same to us
            return False

    with ThreadPoolExecutor(max(1, workers)) as pool:
        ok = np.fromiter(pool.map(one, range(len(paths))), dtype=bool, count=len(paths))
    bad = np.flatnonzero(~ok)
    if len(bad) and not skip_bad:
        raise UserError(bad_images_message([str(paths[i]) for i in bad]))
    if len(bad) == len(paths):
        raise UserError(f"none of the {len(paths)} image files can be read, e.g. {paths[0]}")
    kept = np.flatnonzero(ok)
    return (out if len(bad) == 0 else out[kept]), kept


def resize_all(images: np.ndarray, size: int, channels: int) -> np.ndarray:
    """Resize uint8 (N, H, W, C) images to size x size with ``channels`` channels."""
    from PIL import Image

    out = [image_to_array(Image.fromarray(im.squeeze(-1) if im.shape[-1] == 1 else im), channels, (size, size))
           for im in images]
    return np.stack(out)


def image_array(arr: np.ndarray, what: str) -> np.ndarray:
    """A user's image array as uint8 (N, H, W, C) with C 1 (grey) or 3 (RGB): uint8 (N, H, W) gains a channel
    axis; any other dtype, rank, channel count or an empty side is a one-line UserError starting with ``what``."""
    if arr.dtype != np.uint8 or arr.ndim not in (3, 4) or (arr.ndim == 4 and arr.shape[-1] not in (1, 3)) \
            or 0 in arr.shape[1:3]:
        raise UserError(f"{what} must be uint8 images (N, H, W) or (N, H, W, C) with C 1 or 3 and sides of at least "
                        f"1 pixel, got {arr.dtype} {arr.shape}")
    return arr[..., None] if arr.ndim == 3 else arr
