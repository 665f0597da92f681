"""Batched, on-device image views with per-sample random parameters.

Every function takes a float batch ``x`` of shape (B, C, H, W) with values in [0, 1] on any device
and a ``torch.Generator`` on that device, and returns a batch of the same shape. No PIL, no worker
processes: the whole in-memory dataset stays on the device as uint8 and views are made here
(the airbench recipe, DESIGN.md "Speed comes from the data path").

The recipes used by the methods are :func:`weak_view` (random crop with padding + flip; TCL's
"weak" view and the CE baseline's augmentation) and :func:`strong_view` (SimCLR-style:
RandomResizedCrop(0.2..1) + flip + colour jitter(0.4, 0.4, 0.4, 0.1) p=0.8 + grayscale p=0.2
+ solarize p=0.5; TCL Sec. 3.3 / official code). The colour jitter is ours by default (a fixed order,
hue rotated in YIQ) or torchvision's ColorJitter as the official code uses it (:data:`JITTERS`).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Callable, TypeVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

_LUMA = (0.299, 0.587, 0.114)
# the colour jitter of strong_view: "fixed" brightness -> contrast -> saturation -> hue with the hue rotated in
# YIQ (one pass each); "torchvision" a random order per sample and the hue shifted in HSV (torchvision's ColorJitter)
JITTERS = ("fixed", "torchvision")
_F = TypeVar("_F", bound=Callable)


def full_precision(fn: _F) -> _F:
    """Run a view function with autocast off on its input's device: the training step runs under bf16
    autocast on CUDA, where the colour jitter's einsum and the crops' interpolation would otherwise turn
    the images into bf16 (the views are made in fp32; the network then casts as autocast decides)."""

    @functools.wraps(fn)
    def wrapper(x: Tensor, *args, **kwargs):
        with torch.autocast(x.device.type, enabled=False):
            return fn(x, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _uniform(n: int, lo: float, hi: float, g: torch.Generator, device: torch.device) -> Tensor:
    return torch.rand(n, generator=g, device=device) * (hi - lo) + lo


def _coin(n: int, p: float, g: torch.Generator, device: torch.device) -> Tensor:
    """Bool (n,): True with probability p."""
    return torch.rand(n, generator=g, device=device) < p


def _where(mask: Tensor, a: Tensor, b: Tensor) -> Tensor:
    """Per-sample select: mask (B,) -> a where True else b, for (B, ...) tensors."""
    return torch.where(mask.view(-1, *([1] * (a.dim() - 1))), a, b)


def to_float(images_u8: Tensor) -> Tensor:
    """uint8 (B, H, W, C) -> float (B, C, H, W) in [0, 1]."""
    return images_u8.permute(0, 3, 1, 2).float().div_(255.0)


def hflip(x: Tensor, g: torch.Generator, p: float = 0.5) -> Tensor:
    """Flip each image left-right with probability p."""
    return _where(_coin(len(x), p, g, x.device), x.flip(3), x)


def random_crop(x: Tensor, g: torch.Generator, pad: int) -> Tensor:
    """Zero-pad by ``pad`` pixels and crop back to H x W at a per-sample random offset (translate)."""
    if pad <= 0:
        return x
    b, c, h, w = x.shape
    xp = F.pad(x, (pad, pad, pad, pad))
    oy = torch.randint(0, 2 * pad + 1, (b,), generator=g, device=x.device)
    ox = torch.randint(0, 2 * pad + 1, (b,), generator=g, device=x.device)
    rows = (oy[:, None] + torch.arange(h, device=x.device))[:, :, None]  # (B, H, 1)
    cols = (ox[:, None] + torch.arange(w, device=x.device))[:, None, :]  # (B, 1, W)
    bi = torch.arange(b, device=x.device)[:, None, None]
    return xp.permute(0, 2, 3, 1)[bi, rows, cols].permute(0, 3, 1, 2).contiguous()


def random_resized_crop(
    x: Tensor, g: torch.Generator, scale: tuple[float, float] = (0.2, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
) -> Tensor:
    """Crop a random area fraction in ``scale`` with log-uniform aspect ``ratio``, resize back (bilinear).

    One affine sampling grid per sample; crops that would not fit are shrunk to fit (instead of
    torchvision's retry loop), so the output is always defined.
    """
    b, _, h, w = x.shape
    dev = x.device
    area = _uniform(b, *scale, g, dev)
    log_r = _uniform(b, math.log(ratio[0]), math.log(ratio[1]), g, dev)
    aspect = torch.exp(log_r)
    cw = torch.sqrt(area * aspect).clamp(max=1.0)  # crop width as a fraction of W
    ch = torch.sqrt(area / aspect).clamp(max=1.0)
    cx = (torch.rand(b, generator=g, device=dev) * 2 - 1) * (1 - cw)  # centre in [-1, 1] coords
    cy = (torch.rand(b, generator=g, device=dev) * 2 - 1) * (1 - ch)
    theta = torch.zeros(b, 2, 3, device=dev, dtype=x.dtype)
    theta[:, 0, 0], theta[:, 0, 2] = cw, cx
    theta[:, 1, 1], theta[:, 1, 2] = ch, cy
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def _gray(x: Tensor) -> Tensor:
    """Luma (B, 1, H, W) of an RGB or 1-channel batch."""
    if x.shape[1] == 1:
        return x
    r, gc, bl = x[:, 0:1], x[:, 1:2], x[:, 2:3]
    return _LUMA[0] * r + _LUMA[1] * gc + _LUMA[2] * bl


def color_jitter(
    x: Tensor, g: torch.Generator, brightness: float = 0.4, contrast: float = 0.4,
    saturation: float = 0.4, hue: float = 0.1, p: float = 0.8, *, random_order: bool = False,
    hsv_hue: bool = False,
) -> Tensor:
    """Per-sample brightness, contrast, saturation and hue jitter, applied with probability p.

    Default: the fixed order brightness -> contrast -> saturation -> hue, the hue rotated in YIQ space,
    a cheap batched stand-in for the HSV rotation. ``random_order``: each sample's own random order of
    the four, and ``hsv_hue``: the hue shifted in HSV space, as torchvision's ColorJitter does (the
    official TCL views; :func:`_jitter_any_order`). Saturation and hue are no-ops on 1-channel images.
    """
    if random_order or hsv_hue:
        return _jitter_any_order(x, g, (brightness, contrast, saturation, hue), p, random_order, hsv_hue)
    b, c = x.shape[:2]
    dev = x.device
    one = [1] * 3
    bf = _uniform(b, 1 - brightness, 1 + brightness, g, dev).view(b, *one)
    cf = _uniform(b, 1 - contrast, 1 + contrast, g, dev).view(b, *one)
    y = (x * bf).clamp_(0, 1)
    mean = _gray(y).mean(dim=(1, 2, 3), keepdim=True)
    y = ((y - mean) * cf + mean).clamp_(0, 1)
    if c == 3:
        sf = _uniform(b, 1 - saturation, 1 + saturation, g, dev).view(b, *one)
        gray = _gray(y)
        y = ((y - gray) * sf + gray).clamp_(0, 1)
        angle = _uniform(b, -hue, hue, g, dev) * (2 * math.pi)
        y = _rotate_hue(y, angle).clamp_(0, 1)
    return _where(_coin(b, p, g, dev), y, x)


def _jitter_any_order(x: Tensor, g: torch.Generator, strength: tuple[float, float, float, float], p: float,
                      random_order: bool, hsv_hue: bool) -> Tensor:
    """:func:`color_jitter` in a per-sample order (random, or the fixed one) with the hue in YIQ or HSV.

    strength: (brightness, contrast, saturation, hue) as torchvision's ColorJitter takes them; factors
    1 +- strength, hue shift +- hue of a turn. Draws the four factors, then the orders, then the coin."""
    brightness, contrast, saturation, hue = strength
    b, c = x.shape[:2]
    dev = x.device
    bf, cf, sf = (_uniform(b, 1 - s, 1 + s, g, dev).view(b, 1, 1, 1) for s in (brightness, contrast, saturation))
    shift = _uniform(b, -hue, hue, g, dev)

    def contrast_op(y: Tensor) -> Tensor:
        mean = _gray(y).mean(dim=(1, 2, 3), keepdim=True)
        return ((y - mean) * cf + mean).clamp(0, 1)

    def saturation_op(y: Tensor) -> Tensor:
        gray = _gray(y)
        return ((y - gray) * sf + gray).clamp(0, 1)

    def hue_op(y: Tensor) -> Tensor:
        return _shift_hue_hsv(y, shift) if hsv_hue else _rotate_hue(y, shift * (2 * math.pi)).clamp(0, 1)

    ops: list[Callable[[Tensor], Tensor]] = [lambda y: (y * bf).clamp(0, 1), contrast_op]
    if c == 3:
        ops += [saturation_op, hue_op]
    order = (torch.rand(b, 4, generator=g, device=dev).argsort(dim=1) if random_order
             else torch.arange(4, device=dev).expand(b, 4))
    y = apply_in_order(x, ops, order)
    return _where(_coin(b, p, g, dev), y, x)


def apply_in_order(x: Tensor, ops: list[Callable[[Tensor], Tensor]], order: Tensor) -> Tensor:
    """Apply batch-wise ``ops`` to each sample in its own order. x: (B, ...); order: int (B, K), each row a
    permutation of 0..K-1 (K >= len(ops)); an index without an op (K > len(ops)) is the identity."""
    for k in range(order.shape[1]):
        step, out = order[:, k], x
        for j, op in enumerate(ops):
            out = _where(step == j, op(x), out)
        x = out
    return x


def _shift_hue_hsv(x: Tensor, shift: Tensor) -> Tensor:
    """Shift the HSV hue of RGB images (B, 3, H, W) in [0, 1] by ``shift`` (B,) turns (torchvision's
    adjust_hue); value and saturation are kept."""
    r, gc, bl = x.unbind(1)
    high, low = x.amax(dim=1), x.amin(dim=1)
    delta = high - low
    span = torch.where(delta > 0, delta, torch.ones_like(delta))
    h = torch.where(high == r, ((gc - bl) / span) % 6,
                    torch.where(high == gc, (bl - r) / span + 2, (r - gc) / span + 4))
    h = torch.where(delta > 0, h / 6, torch.zeros_like(h))
    h = (h + shift.view(-1, 1, 1)) % 1.0
    s = torch.where(high > 0, delta / torch.where(high > 0, high, torch.ones_like(high)), torch.zeros_like(high))
    # HSV -> RGB: channel n in (5, 3, 1) is v - v s clamp(min(k, 4 - k), 0, 1) with k = (n + 6 h) mod 6
    n = (5 - 2 * torch.arange(3, device=x.device, dtype=x.dtype)).view(1, 3, 1, 1)  # made on the device
    k = (n + 6 * h[:, None]) % 6
    v, s = high[:, None], s[:, None]
    return v - v * s * torch.minimum(k, 4 - k).clamp(0, 1)


@functools.lru_cache(maxsize=16)
def _yiq(device: torch.device, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    """RGB -> YIQ matrix and its inverse (3, 3), made once per device and dtype: no host-to-device
    copy and no device-side inverse in the training step."""
    to_yiq = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]], dtype=dtype)
    return to_yiq.to(device), torch.linalg.inv(to_yiq).to(device)


@functools.lru_cache(maxsize=64)
def _channel_stats(mean: tuple[float, ...], std: tuple[float, ...], device: torch.device,
                   dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    """Normalisation mean and std as (1, C, 1, 1) tensors on ``device``, made once per run's values."""
    return (torch.tensor(mean, dtype=dtype).view(1, -1, 1, 1).to(device),
            torch.tensor(std, dtype=dtype).view(1, -1, 1, 1).to(device))


def _rotate_hue(x: Tensor, angle: Tensor) -> Tensor:
    """Rotate the chroma plane of RGB images (B, 3, H, W) by ``angle`` (B,) radians in YIQ space."""
    to_yiq, to_rgb = _yiq(x.device, x.dtype)
    cos, sin = torch.cos(angle), torch.sin(angle)
    rot = torch.zeros(len(x), 3, 3, device=x.device, dtype=x.dtype)
    rot[:, 0, 0] = 1
    rot[:, 1, 1], rot[:, 1, 2], rot[:, 2, 1], rot[:, 2, 2] = cos, -sin, sin, cos
    m = to_rgb @ rot @ to_yiq  # (B, 3, 3)
    return torch.einsum("bij,bjhw->bihw", m, x)


def random_grayscale(x: Tensor, g: torch.Generator, p: float = 0.2) -> Tensor:
    """Replace an image by its luma (replicated over channels) with probability p."""
    if x.shape[1] == 1:
        return x
    return _where(_coin(len(x), p, g, x.device), _gray(x).expand_as(x), x)


def solarize(x: Tensor, g: torch.Generator, p: float = 0.5, threshold: float = 0.5) -> Tensor:
    """Invert pixels >= threshold (128/255 ~ 0.5) with probability p per image."""
    return _where(_coin(len(x), p, g, x.device), torch.where(x >= threshold, 1 - x, x), x)


def _host_rng(g: torch.Generator) -> np.random.Generator:
    """A numpy generator seeded from ``g``'s current state, read on the host: a CUDA generator's state is
    its seed and offset, kept on the host, so no device sync (drawing a seed with ``torch.randint(...,
    generator=g).item()`` would wait for the device every step)."""
    raw = g.get_state().numpy().tobytes()
    raw += b"\0" * (-len(raw) % 4)
    return np.random.default_rng(np.frombuffer(raw, dtype=np.uint32))


@full_precision
def mixup(
    x: Tensor, g: torch.Generator, alpha: float = 1.0,
) -> tuple[Tensor, Tensor, float]:
    """Mixup with one lambda per batch: lam = max(l, 1 - l), l ~ Beta(alpha, alpha).

    Returns (lam * x + (1 - lam) * x[perm], perm (B,), lam); mix targets with the same perm and lam
    (Zhang et al. 2018; TCL Sec. 3.3). Lambda is drawn by numpy from ``g``'s state (on the host), so the
    whole view stream follows one generator without a device sync.
    """
    lam = float(_host_rng(g).beta(alpha, alpha)) if alpha > 0 else 1.0
    lam = max(lam, 1.0 - lam)
    perm = torch.randperm(len(x), generator=g, device=x.device)
    return lam * x + (1 - lam) * x[perm], perm, lam


@dataclass(frozen=True)
class ViewConfig:
    """The augmentation recipe of one run.

    Attributes:
        crop_pad: padding of the weak random crop in pixels (TCL: 1/8 of the side).
        flip: whether horizontal flips are allowed (off for digits, whose shapes are not mirror-safe).
        mean, std: per-channel normalisation applied after augmentation. Three values for 1-channel
            images: the grey channel is repeated into 3 (an RGB network's pretrained weights).
        size: the network's input side; each batch is resized to size x size (bilinear) after
            augmentation when its side differs (pretrained ImageNet networks on small images). None: as is.
    """

    crop_pad: int
    flip: bool
    mean: tuple[float, ...]
    std: tuple[float, ...]
    size: int | None = None


def normalize(x: Tensor, cfg: ViewConfig) -> Tensor:
    """(B, C, H, W) -> (B, len(mean), size, size): resized to ``cfg.size`` where set, a grey channel
    repeated where ``mean`` has 3 values, then (x - mean) / std per channel, in channels_last memory
    order (faster convolutions on CPU and GPU)."""
    if cfg.size is not None and tuple(x.shape[-2:]) != (cfg.size, cfg.size):
        x = F.interpolate(x, size=(cfg.size, cfg.size), mode="bilinear", align_corners=False)
    if x.shape[1] == 1 and len(cfg.mean) == 3:
        x = x.expand(-1, 3, -1, -1)
    mean, std = _channel_stats(tuple(cfg.mean), tuple(cfg.std), x.device, x.dtype)
    return ((x - mean) / std).contiguous(memory_format=torch.channels_last)


@full_precision
def plain_view(images_u8: Tensor, cfg: ViewConfig) -> Tensor:
    """The un-augmented ("test") view: uint8 (B, H, W, C) -> normalised float (B, C, H, W)."""
    return normalize(to_float(images_u8), cfg)


@full_precision
def weak_view(images_u8: Tensor, cfg: ViewConfig, g: torch.Generator) -> Tensor:
    """Random crop with padding + horizontal flip, normalised; (B, H, W, C) uint8 -> (B, C, H, W)."""
    x = random_crop(to_float(images_u8), g, cfg.crop_pad)
    if cfg.flip:
        x = hflip(x, g)
    return normalize(x, cfg)


@full_precision
def strong_view(
    images_u8: Tensor, cfg: ViewConfig, g: torch.Generator, solarize_p: float = 0.5, crop_min: float = 0.2,
    jitter: str = "fixed",
) -> Tensor:
    """SimCLR-style strong view; (B, H, W, C) uint8 -> (B, C, H, W). TCL solarizes with p = 0.5; the
    contrastive framework's SimCLR views do not (``solarize_p=0``). ``crop_min``: the smallest area
    fraction of the resized crop (official 0.2). ``jitter``: one of :data:`JITTERS` ("torchvision": the
    official code's ColorJitter, in a random order with an HSV hue)."""
    if jitter not in JITTERS:
        raise ValueError(f"jitter must be one of {', '.join(JITTERS)}, got {jitter!r}")
    x = random_resized_crop(to_float(images_u8), g, scale=(crop_min, 1.0))
    if cfg.flip:
        x = hflip(x, g)
    official = jitter == "torchvision"
    x = color_jitter(x, g, random_order=official, hsv_hue=official)
    x = random_grayscale(x, g)
    if solarize_p > 0:
        x = solarize(x, g, p=solarize_p)
    return normalize(x, cfg)
