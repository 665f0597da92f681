"""Write the detection suite's synthetic training sets as npz sources (into an ignored folder; nothing is
downloaded, nothing committed).

  long-tail   Fashion-MNIST training images (the first of default_rng(0).permutation(60000)) with class
              sizes n_max * 10^(-rank / 9): the look-alike source classes (Shirt, Pullover, Ankle boot) and
              their targets keep the largest sizes, so that the three rarest classes hold clean labels only;
              train it with ``--noise lookalike --noise-rate R``.
  tinted      N Fashion-MNIST images as 32 x 32 colour photos a small network learns slowly: each garment
              tinted with a random colour on a random-coloured, noisy background, randomly shifted; a
              ``noisy_labels.npy`` beside it moves a share of them to a random other class (train with
              ``--noise file:DIR/noisy_labels.npy``, so the truth stays known).

    python benchmarks/make_cases.py long-tail --out bench/cases/longtail.npz
    python benchmarks/make_cases.py tinted --n 2000 --wrong 0.095 --out bench/cases/tinted.npz
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from noisylabels.data.sources import load_fashion_mnist

# Fashion-MNIST classes ordered largest first: the look-alike sources and targets, then the others
LONG_TAIL_ORDER = (6, 0, 2, 4, 9, 7, 1, 3, 5, 8)


def fashion_mnist() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(train images (N, 28, 28), labels, test images, test labels) from the Debian files."""
    train, test = load_fashion_mnist(None)
    return train.images[..., 0], train.labels, test.images[..., 0], test.labels


def long_tail(n_max: int, ratio: float, seed: int) -> dict[str, np.ndarray]:
    x, y, tx, ty = fashion_mnist()
    order = np.random.default_rng(seed).permutation(len(y))
    keep = []
    for rank, c in enumerate(LONG_TAIL_ORDER):
        size = int(round(n_max * ratio ** (-rank / (len(LONG_TAIL_ORDER) - 1))))
        keep.append(order[y[order] == c][:size])
    idx = np.sort(np.concatenate(keep))
    return {"images": x[idx], "labels": y[idx], "test_images": tx, "test_labels": ty}


def tinted(n: int, wrong: float, seed: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    x, y, tx, ty = fashion_mnist()
    rng = np.random.default_rng(seed)

    def paint(images: np.ndarray) -> np.ndarray:
        m = len(images)
        fg = rng.uniform(0.2, 1.0, (m, 1, 1, 3))
        bg = rng.uniform(0.0, 0.8, (m, 1, 1, 3))
        a = images[..., None].astype(np.float64) / 255
        out = np.empty((m, 32, 32, 3))
        canvas = bg + rng.normal(0, 0.25, (m, 32, 32, 3))
        for i in range(m):
            dy, dx = rng.integers(0, 5, 2)
            patch = canvas[i, dy:dy + 28, dx:dx + 28]
            canvas[i, dy:dy + 28, dx:dx + 28] = a[i] * fg[i] + (1 - a[i]) * patch
            out[i] = canvas[i]
        return (out.clip(0, 1) * 255).round().astype(np.uint8)

    pick = rng.permutation(len(y))[:n]
    test = rng.permutation(len(ty))[:max(500, n // 4)]
    data = {"images": paint(x[pick]), "labels": y[pick], "test_images": paint(tx[test]), "test_labels": ty[test]}
    noisy = data["labels"].astype(np.int64).copy()
    moved = rng.permutation(n)[:int(round(wrong * n))]
    noisy[moved] = (noisy[moved] + rng.integers(1, 10, len(moved))) % 10
    return data, noisy


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("case", choices=("long-tail", "tinted"))
    ap.add_argument("--out", required=True, help="the .npz to write (its folder also gets noisy_labels.npy)")
    ap.add_argument("--n-max", type=int, default=2000, help="long-tail: the largest class's size")
    ap.add_argument("--ratio", type=float, default=10.0, help="long-tail: largest over smallest class size")
    ap.add_argument("--n", type=int, default=2000, help="tinted: training images")
    ap.add_argument("--wrong", type=float, default=0.095, help="tinted: share of wrong labels")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.case == "long-tail":
        data = long_tail(args.n_max, args.ratio, args.seed)
    else:
        data, noisy = tinted(args.n, args.wrong, args.seed)
        np.save(out.with_name(out.stem + "_noisy_labels.npy"), noisy)
    np.savez(out, **data)
    sizes = np.bincount(data["labels"], minlength=10)
    print(f"wrote {out}: {len(data['labels'])} training images, class sizes {sizes.tolist()}")


if __name__ == "__main__":
    main()
