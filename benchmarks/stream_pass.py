"""Images/s of one full inference pass (the E-step's, the end of a run's) over a streamed folder of image
files, with the store told the batches first (its decoding workers run ahead of the forward passes) and
without (each batch decoded in the main process when it is asked for). Writes the folder once (an
ignored path you give; nothing downloaded).

    python benchmarks/stream_pass.py --folder bench/stream20k --files 20000
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from noisylabels import inference
from noisylabels.data.augment import ViewConfig
from noisylabels.data.files import list_folder
from noisylabels.methods import get_method
from noisylabels.models.backbones import build_backbone


def write_folder(root: Path, files: int, side: int = 32, classes: int = 10) -> None:
    """``files`` RGB PNGs of side x side px in ``classes`` class folders (skipped when already there)."""
    from PIL import Image

    if root.is_dir() and sum(1 for _ in root.rglob("*.png")) >= files:
        return
    rng = np.random.default_rng(0)
    for i in range(files):
        folder = root / f"c{i % classes}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)).save(folder / f"{i:06d}.png")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--folder", required=True)
    ap.add_argument("--files", type=int, default=20000)
    ap.add_argument("--batch-size", type=int, default=1024)
    args = ap.parse_args()
    root = Path(args.folder)
    write_folder(root, args.files)
    store = list_folder(str(root)).load(None, False, "on").images.to(torch.device("cpu"))
    method = get_method("ce")(build_backbone("small-cnn", in_channels=3, image_size=32), 10, len(store),
                              get_method("ce").Options())
    views = ViewConfig(crop_pad=4, flip=True, mean=(0.5,) * 3, std=(0.25,) * 3)
    real_prefetch = inference.prefetch
    print(f"{len(store)} files, {store.workers} decoding workers, {torch.get_num_threads()} threads, batch "
          f"{args.batch_size}")
    for label, hook in (("decoded when asked (no prefetch)", lambda images, batches: None),
                        ("decoded ahead (prefetch)", real_prefetch)):
        inference.prefetch = hook
        t0 = time.perf_counter()
        probs = inference.predict_probs(method, store, views, batch_size=args.batch_size)
        seconds = time.perf_counter() - t0
        print(f"{label}: {len(probs) / seconds:.0f} images/s ({seconds:.1f} s)")
    inference.prefetch = real_prefetch


if __name__ == "__main__":
    main()
