import torch

from noisylabels.data import augment as A


def _batch(c: int = 3, n: int = 32, size: int = 16) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (n, size, size, c), dtype=torch.uint8, generator=g)


def test_views_keep_shape_and_follow_the_generator():
    x = _batch()
    cfg = A.ViewConfig(crop_pad=2, flip=True, mean=(0.5,) * 3, std=(0.25,) * 3)
    for view in (A.weak_view, A.strong_view):
        a = view(x, cfg, torch.Generator().manual_seed(1))
        b = view(x, cfg, torch.Generator().manual_seed(1))
        c = view(x, cfg, torch.Generator().manual_seed(2))
        assert a.shape == (32, 3, 16, 16)
        assert torch.equal(a, b)
        assert not torch.equal(a, c)


def test_random_crop_is_a_per_sample_translation():
    x = A.to_float(_batch(c=1))
    out = A.random_crop(x, torch.Generator().manual_seed(0), pad=2)
    for i in range(len(x)):  # each output equals the input shifted by some (dy, dx) in [-2, 2]
        found = False
        padded = torch.nn.functional.pad(x[i], (2, 2, 2, 2))
        for dy in range(5):
            for dx in range(5):
                if torch.equal(padded[:, dy:dy + 16, dx:dx + 16], out[i]):
                    found = True
        assert found
    offsets = {tuple(o.flatten().tolist()) for o in out[:, :, 0, 0:1]}
    assert len(offsets) > 1


def test_hflip_flips_about_half():
    x = A.to_float(_batch(n=400))
    out = A.hflip(x, torch.Generator().manual_seed(0))
    flipped = torch.tensor([torch.equal(out[i], x[i].flip(2)) for i in range(len(x))])
    assert 150 < int(flipped.sum()) < 250


def test_solarize_and_grayscale():
    x = torch.tensor([0.2, 0.7]).view(1, 1, 1, 2).expand(4, 3, 1, 2).clone()
    out = A.solarize(x, torch.Generator().manual_seed(0), p=1.0)
    assert torch.allclose(out[0, 0, 0], torch.tensor([0.2, 0.3]))
    rgb = A.to_float(_batch(n=8))
    gray = A.random_grayscale(rgb, torch.Generator().manual_seed(0), p=1.0)
    assert torch.allclose(gray[:, 0], gray[:, 1]) and torch.allclose(gray[:, 1], gray[:, 2])


def test_color_jitter_and_resized_crop_stay_in_range():
    x = A.to_float(_batch(n=64))
    g = torch.Generator().manual_seed(0)
    for out in (A.color_jitter(x, g, p=1.0), A.random_resized_crop(x, g)):
        assert out.shape == x.shape
        assert float(out.min()) >= -1e-5 and float(out.max()) <= 1 + 1e-5
        assert not torch.allclose(out, x)


def test_mixup_mixes_with_one_lambda():
    x = torch.rand(10, 1, 4, 4)
    mixed, perm, lam = A.mixup(x, torch.Generator().manual_seed(0), alpha=1.0)
    assert 0.5 <= lam <= 1.0
    assert torch.allclose(mixed, lam * x + (1 - lam) * x[perm])
    assert sorted(perm.tolist()) == list(range(10))


def test_resized_crop_area_follows_the_scale_range():
    """A horizontal ramp j / (W - 1): a square crop of area fraction a spans sqrt(a) of the ramp."""
    w = 32
    ramp = (torch.arange(w, dtype=torch.float32) / (w - 1)).expand(4, 1, w, w).contiguous()
    g = torch.Generator().manual_seed(0)
    whole = A.random_resized_crop(ramp, g, scale=(1.0, 1.0), ratio=(1.0, 1.0))
    assert torch.allclose(whole, ramp, atol=1e-5)  # the whole image, resized to itself
    part = A.random_resized_crop(ramp, g, scale=(0.35, 0.35), ratio=(1.0, 1.0))
    span = part[:, 0, :, -1] - part[:, 0, :, 0]  # (B, H): last minus first column
    assert torch.allclose(span, torch.full_like(span, 0.35 ** 0.5), atol=1e-4)


def _digest(t: torch.Tensor) -> str:
    import hashlib

    return hashlib.sha256(t.contiguous().numpy().tobytes()).hexdigest()[:16]


def test_default_views_are_bit_identical_to_the_fixed_order_yiq_jitter(one_thread):
    """The default strong views and colour jitter (fixed order, YIQ hue) are unchanged by the torchvision
    variant beside them: digests of their outputs measured before it was added (torch 2, one thread)."""
    x = _batch()
    cfg = A.ViewConfig(crop_pad=2, flip=True, mean=(0.5,) * 3, std=(0.25,) * 3)
    assert _digest(A.strong_view(x, cfg, torch.Generator().manual_seed(1))) == "6f947f21b8effd95"
    assert _digest(A.strong_view(x, cfg, torch.Generator().manual_seed(1), 0.0, 0.35)) == "891a2946f7488acf"
    assert _digest(A.color_jitter(A.to_float(x), torch.Generator().manual_seed(3))) == "0ca2bd9724aa56da"
    assert _digest(A.color_jitter(A.to_float(x[..., :1]), torch.Generator().manual_seed(3))) == "42a1ec70dbd6cd35"


def test_hsv_hue_shift_turns_the_hue_and_keeps_value_and_saturation():
    """torchvision's adjust_hue: h -> (h + shift) mod 1 in HSV. Pure red + 1/3 turn = green, - 1/3 = blue."""
    red = torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1).repeat(2, 1, 1, 1)
    out = A._shift_hue_hsv(red, torch.tensor([1 / 3, -1 / 3]))
    assert torch.allclose(out.flatten(1), torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]), atol=1e-6)
    x = A.to_float(_batch(n=64))
    assert torch.allclose(A._shift_hue_hsv(x, torch.zeros(64)), x, atol=1e-6)  # no shift, no change
    y = A._shift_hue_hsv(x, torch.rand(64, generator=torch.Generator().manual_seed(0)) - 0.5)
    assert torch.allclose(y.amax(1), x.amax(1), atol=1e-6) and torch.allclose(y.amin(1), x.amin(1), atol=1e-6)
    assert not torch.allclose(y, x)


def test_ops_apply_in_each_samples_own_order():
    """Two non-commuting ops (+1, x2) in the orders [0, 1] and [1, 0]: (0 + 1) x 2 = 2 and 0 x 2 + 1 = 1."""
    ops = [lambda y: y + 1, lambda y: y * 2]
    out = A.apply_in_order(torch.zeros(2, 1), ops, torch.tensor([[0, 1], [1, 0]]))
    assert out.flatten().tolist() == [2.0, 1.0]
    three = A.apply_in_order(torch.zeros(1, 1), ops, torch.tensor([[2, 1, 0]]))  # index 2 has no op: identity
    assert three.flatten().tolist() == [1.0]


def test_torchvision_jitter_draws_a_random_order_per_sample():
    """With one order for all (the fixed one) every sample's contrast follows its brightness; with random
    orders some samples get another order: their outputs differ, the others' do not."""
    x = A.to_float(_batch(n=256))
    fixed = A.color_jitter(x, torch.Generator().manual_seed(4), p=1.0, hsv_hue=True)
    mixed = A.color_jitter(x, torch.Generator().manual_seed(4), p=1.0, hsv_hue=True, random_order=True)
    same = (fixed - mixed).abs().flatten(1).amax(1) < 1e-5
    assert 0 < int(same.sum()) < 200  # the same factors (drawn first), in other orders for most samples
    assert float(mixed.min()) >= 0.0 and float(mixed.max()) <= 1.0
    grey = A.to_float(_batch(c=1, n=32))
    assert A.color_jitter(grey, torch.Generator().manual_seed(4), random_order=True, hsv_hue=True).shape == grey.shape


def test_strong_view_refuses_an_unknown_jitter():
    import pytest

    cfg = A.ViewConfig(crop_pad=2, flip=True, mean=(0.5,) * 3, std=(0.25,) * 3)
    with pytest.raises(ValueError, match="jitter must be one of fixed, torchvision"):
        A.strong_view(_batch(), cfg, torch.Generator().manual_seed(1), jitter="pil")
