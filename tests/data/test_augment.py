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
