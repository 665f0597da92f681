"""Noise generators against exact rates, the label-file readers, and noise_report."""

from __future__ import annotations

import numpy as np
import pytest

from noisylabels.data import noise as N
from noisylabels.errors import UserError


def _labels(n_per_class: int = 200, c: int = 10) -> np.ndarray:
    return np.repeat(np.arange(c), n_per_class)


def _make(y: np.ndarray, noise: str, rate: float, c: int = 10, seed: int = 0, **kw) -> np.ndarray:
    return N.make_noisy_labels(y, noise=noise, rate=rate, num_classes=c, seed=seed, **kw)


def _images(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 6, 6, 3), dtype=np.uint8)


GENERATORS = [  # (noise, extra kwargs) covering every generator
    ("symmetric", {}), ("symmetric-exclusive", {}), ("pairflip", {}),
    ("asymmetric", {"dataset": "cifar10"}), ("asymmetric", {"dataset": "fashion-mnist"}), ("instance", {}),
    ("lookalike", {"dataset": "fashion-mnist"}), ("lookalike", {"dataset": "digits"}),
]


def _kw(noise: str, extra: dict, n: int) -> dict:
    return {**extra, "images": _images(n)} if noise in ("instance", "lookalike") else extra


# --- generators -------------------------------------------------------------------------------------

@pytest.mark.parametrize("rate", [0.2, 0.37, 0.8, 1.0])
def test_symmetric_exclusive_is_exact(rate):
    y = _labels()
    noisy = _make(y, "symmetric-exclusive", rate)
    assert noisy.dtype == np.int64 and noisy.shape == y.shape
    assert np.sum(noisy != y) == round(rate * len(y))


def test_symmetric_draws_uniformly_from_all_classes():
    y = _labels(1000)
    noisy = _make(y, "symmetric", 0.8)
    assert abs(np.mean(noisy != y) - 0.8 * 9 / 10) < 0.01
    matrix = np.array(N.noise_report(y, noisy, 10)["transition_matrix"])
    off = matrix[~np.eye(10, dtype=bool)]
    assert off.min() > 0.045 and off.max() < 0.115  # each ~ 0.8 / 10, within ~4 binomial std (n = 1000)
    assert np.allclose(np.diag(matrix), 0.2 + 0.08, atol=0.05)


@pytest.mark.parametrize("dataset", ["cifar10", "fashion-mnist"])
def test_asymmetric_moves_exact_counts_along_the_map_only(dataset):
    y = _labels()
    noisy = _make(y, "asymmetric", 0.4, seed=1, dataset=dataset)
    mapping = N.ASYMMETRIC_MAPS[dataset]
    for c in range(10):
        moved = noisy[y == c] != c
        if c in mapping:
            assert moved.sum() == 80 and set(noisy[y == c][moved].tolist()) == {mapping[c]}
        else:
            assert moved.sum() == 0


def test_asymmetric_cat_dog_swap_decided_on_original_labels():
    y = _labels(100)
    noisy = _make(y, "asymmetric", 1.0, dataset="cifar10")
    assert np.all(noisy[y == 3] == 5) and np.all(noisy[y == 5] == 3)  # not moved back a second time


def test_asymmetric_dataset_aliases():
    y = _labels()
    assert np.array_equal(_make(y, "asymmetric", 0.3, dataset="CIFAR-10"), _make(y, "asymmetric", 0.3, dataset="cifar10"))


def test_cifar100_map_is_a_permutation_of_five_cycles_inside_superclasses():
    m = N.cifar100_superclass_map()
    assert sorted(m) == list(range(100)) and sorted(m.values()) == list(range(100))
    for start in range(100):
        cycle, c = [start], m[start]
        while c != start:
            cycle.append(c)
            c = m[c]
        assert len(cycle) == 5
        assert len({int(N.CIFAR100_COARSE[x]) for x in cycle}) == 1
    # spot checks of the taxonomy: beaver(4) dolphin(30) otter(55) seal(72) whale(95) are aquatic mammals
    assert [m[4], m[30], m[55], m[72], m[95]] == [30, 55, 72, 95, 4]
    assert N.CIFAR100_COARSE[99] == 13 and N.CIFAR100_COARSE[89] == 19 and N.CIFAR100_COARSE[0] == 4
    assert np.bincount(N.CIFAR100_COARSE, minlength=20).tolist() == [5] * 20


def test_cifar100_asymmetric_exact_counts():
    y = _labels(20, 100)
    noisy = _make(y, "asymmetric", 0.4, c=100, dataset="cifar100")
    m = N.cifar100_superclass_map()
    for c in range(100):
        moved = noisy[y == c][noisy[y == c] != c]
        assert len(moved) == 8 and set(moved.tolist()) == {m[c]}


def test_pairflip_exact_per_class_and_only_to_the_next_class():
    y = _labels(100, 5)
    noisy = _make(y, "pairflip", 0.3, c=5)
    for c in range(5):
        assert np.sum(noisy[y == c] == (c + 1) % 5) == 30 and np.sum(noisy[y == c] != c) == 30


def test_instance_noise_rate_and_dependence_on_images():
    y = _labels(300)
    images = _images(len(y))
    noisy = _make(y, "instance", 0.4, images=images)
    assert abs(np.mean(noisy != y) - 0.4) < 0.03
    other = _make(y, "instance", 0.4, images=255 - images)
    assert np.mean(noisy != other) > 0.1  # same seed, other images -> other flips
    assert np.array_equal(noisy, _make(y, "instance", 0.4, images=images))


@pytest.mark.parametrize("noise, extra", GENERATORS)
def test_seeded_deterministic_and_global_rng_untouched(noise, extra):
    y = _labels()
    kw = _kw(noise, extra, len(y))
    state = np.random.get_state()[1].copy()
    a, b = _make(y, noise, 0.5, seed=3, **kw), _make(y, noise, 0.5, seed=3, **kw)
    assert np.array_equal(a, b) and not np.array_equal(a, _make(y, noise, 0.5, seed=4, **kw))
    assert np.array_equal(np.random.get_state()[1], state)


@pytest.mark.parametrize("noise, extra", GENERATORS + [("none", {})])
def test_rate_zero_is_identity(noise, extra):
    y = _labels()
    out = _make(y.astype(np.int32), noise, 0.0, **_kw(noise, extra, len(y)))
    assert np.array_equal(out, y) and out.dtype == np.int64


def test_none_copies():
    y = _labels()
    out = _make(y, "none", 0.7)
    assert np.array_equal(out, y) and out is not y


# --- bad input --------------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, needle", [
    ({"noise": "gaussian", "rate": 0.2}, "symmetric-exclusive, asymmetric, pairflip, instance"),
    ({"noise": "symmetric", "rate": 1.5}, "--noise-rate must be in [0, 1], got 1.5"),
    ({"noise": "symmetric", "rate": -0.1}, "--noise-rate must be in [0, 1]"),
    ({"noise": "symmetric", "rate": "lots"}, "--noise-rate must be a number"),
    ({"noise": "asymmetric", "rate": 0.2, "dataset": "digits"}, "pairflip"),
    ({"noise": "asymmetric", "rate": 0.2}, "cifar10, cifar100 and fashion-mnist"),
    ({"noise": "asymmetric", "rate": 0.2, "dataset": "cifar100"}, "needs 100 classes"),
    ({"noise": "instance", "rate": 0.2}, "images"),
    ({"noise": "instance", "rate": 0.2, "images": np.zeros((3, 2, 2, 1), np.uint8)}, "images"),
    ({"noise": "file:/nonexistent/labels.npy", "rate": 0.0}, "/nonexistent/labels.npy not found"),
])
def test_bad_arguments(kwargs, needle):
    with pytest.raises(UserError) as e:
        N.make_noisy_labels(_labels(), num_classes=10, seed=0, **kwargs)
    assert needle in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("labels, c, needle", [
    (np.array([0, 10]), 10, "[0, 10)"),
    (np.array([-1, 3]), 10, "[0, 10)"),
    (np.array([0.0, 1.0]), 10, "integer"),
    (np.zeros((2, 2), int), 10, "1-D"),
    (np.array([0, 1]), 0, "num_classes"),
])
def test_bad_labels(labels, c, needle):
    with pytest.raises(UserError) as e:
        N.make_noisy_labels(labels, noise="none", rate=0.0, num_classes=c, seed=0)
    assert needle in str(e.value)


# --- label files ------------------------------------------------------------------------------------

Y = np.array([0, 2, 1, 1])
NAMES = ["cat", "bird", "dog"]


def _load(path, n: int = 4) -> np.ndarray:
    return N.load_label_file(str(path), n=n, num_classes=3, class_names=NAMES)


def test_label_files_round_trip(tmp_path):
    np.save(tmp_path / "a.npy", Y)
    np.save(tmp_path / "names.npy", np.array(["cat", "dog", "bird", "bird"]))
    np.save(tmp_path / "floats.npy", Y.astype(np.float32))
    np.savez(tmp_path / "one.npz", labels=Y)
    np.savez(tmp_path / "b.npz", worse_label=Y, aggre_label=Y[::-1])
    (tmp_path / "names.csv").write_text("label\ncat\ndog\nbird\nbird\n")
    (tmp_path / "plain.csv").write_text("0\n2\n1\n1\n")
    (tmp_path / "bare_names.csv").write_text("cat\ndog\nbird\nbird\n")
    (tmp_path / "cols.csv").write_text("path,label,noisy_label\na.png,0,0\nb.png,0,2\nc.png,1,1\nd.png,1,1\n")
    for name in ("a.npy", "names.npy", "floats.npy", "one.npz", "names.csv", "plain.csv", "bare_names.csv",
                 "cols.csv"):
        got = _load(tmp_path / name)
        assert got.dtype == np.int64 and np.array_equal(got, Y), name
    assert np.array_equal(_load(f"{tmp_path / 'b.npz'}#aggre_label"), Y[::-1])
    via = N.make_noisy_labels(np.zeros(4, int), noise=f"file:{tmp_path / 'b.npz'}#worse_label", rate=0.0,
                              num_classes=3, seed=0)
    assert np.array_equal(via, Y)


def test_cifar_n_pt_file(tmp_path):
    torch = pytest.importorskip("torch")
    path = tmp_path / "CIFAR-10_human.pt"
    torch.save({"clean_label": Y, "worse_label": Y[::-1].copy(), "aggre_label": Y, "random_label1": Y}, path)
    got = _make(Y, f"file:{path}#worse_label", 0.0, c=3)
    assert np.array_equal(got, Y[::-1])
    torch.save({"noisy_label": torch.tensor(Y)}, tmp_path / "single.pt")
    assert np.array_equal(_load(tmp_path / "single.pt"), Y)
    with pytest.raises(UserError) as e:
        _load(path)  # several entries and no '#key'
    assert "clean_label, worse_label, aggre_label, random_label1" in str(e.value)
    assert f"file:{path}#worse_label" in str(e.value)


@pytest.mark.parametrize("write, path, needle", [
    (lambda d: np.save(d / "a.npy", Y), "a.npy@5", "has 4 labels but the training set has 5 samples"),
    (lambda d: np.save(d / "f.npy", np.array([0.5, 1, 2, 0])), "f.npy", "non-integer"),
    (lambda d: np.save(d / "neg.npy", np.array([0, -1, 2, 0])), "neg.npy", "[0, 3)"),
    (lambda d: np.save(d / "big.npy", np.array([0, 3, 2, 0])), "big.npy", "[0, 3)"),
    (lambda d: np.save(d / "s.npy", np.array(["cat", "cow", "dog", "dog"])), "s.npy", "unknown class name(s) 'cow'"),
    (lambda d: np.savez(d / "b.npz", worse_label=Y, aggre_label=Y), "b.npz", "#worse_label"),
    (lambda d: np.savez(d / "b.npz", worse_label=Y, aggre_label=Y), "b.npz#nope", "entries: worse_label"),
    (lambda d: np.save(d / "a.npy", Y), "a.npy#key", "single array"),
    (lambda d: (d / "x.csv").write_text("path,target\na,0\n"), "x.csv", "'noisy_label' or 'label'"),
    (lambda d: (d / "e.csv").write_text(""), "e.csv", "empty"),
    (lambda d: (d / "l.txt").write_text("0\n"), "l.txt", ".npy, .npz, .csv"),
    (lambda d: (d / "bad.npy").write_bytes(b"not numpy"), "bad.npy", "cannot read labels file"),
    (lambda d: None, "missing.npy", "missing.npy not found"),
])
def test_bad_label_files(tmp_path, write, path, needle):
    write(tmp_path)
    name, _, n = path.partition("@")
    with pytest.raises(UserError) as e:
        _load(tmp_path / name if "#" not in name else f"{tmp_path}/{name}", n=int(n or 4))
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_both_csv_readers_share_one_number_test(tmp_path):
    """data._text.is_number decides what a CSV cell is for the label-file reader (a header or class name
    vs a label) and for detect's array reader (a header row or data), and is total (None, words, '')."""
    from noisylabels.data._text import is_number
    from noisylabels.issues import load_array

    assert [is_number(v) for v in ("3", " -2.5", "1e-3", "nan", 7, 0.5)] == [True] * 6
    assert [is_number(v) for v in ("label", "", "3,4", None, [1])] == [False] * 5
    for header in ("label\n", "noisy_label\n", ""):
        (tmp_path / "l.csv").write_text(header + "0\n2\n1\n1\n")
        assert np.array_equal(_load(tmp_path / "l.csv"), Y), header
        assert np.array_equal(load_array(str(tmp_path / "l.csv"), "labels"), Y.astype(float)), header


def test_class_names_need_dataset_names(tmp_path):
    np.save(tmp_path / "s.npy", np.array(["cat", "dog", "dog", "dog"]))
    with pytest.raises(UserError, match="class names"):
        N.load_label_file(str(tmp_path / "s.npy"), n=4, num_classes=3)


# --- noise_report -----------------------------------------------------------------------------------

def test_noise_report_by_hand():
    r = N.noise_report(np.array([0, 0, 0, 0, 1, 1]), np.array([0, 0, 1, 2, 1, 1]), 3)
    assert r["noise_rate_actual"] == pytest.approx(2 / 6)
    assert r["counts"] == [[2, 1, 1], [0, 2, 0], [0, 0, 0]]
    assert r["transition_matrix"] == [[0.5, 0.25, 0.25], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]]


def test_noise_report_rejects_mismatch():
    with pytest.raises(UserError, match="length"):
        N.noise_report(np.array([0, 1]), np.array([0]), 2)


def test_lookalike_moves_three_classes_to_their_look_alikes():
    y = _labels()
    noisy = _make(y, "lookalike", 0.15, seed=2, dataset="fashion-mnist")
    for c in range(10):
        moved = noisy[y == c] != c
        if c in N.LOOKALIKE_MAPS["fashion-mnist"]:
            assert moved.sum() == 30 and set(noisy[y == c][moved].tolist()) == {N.LOOKALIKE_MAPS["fashion-mnist"][c]}
        else:
            assert moved.sum() == 0
    assert np.mean(noisy != y) == pytest.approx(0.045)


def test_lookalike_without_a_map_pairs_the_closest_class_means():
    y = np.repeat(np.arange(6), 50)
    # class k's images are flat at brightness 40 k, except that class 5 sits next to class 1
    level = np.array([0, 40, 80, 120, 160, 50])[y]
    images = np.broadcast_to(level[:, None, None, None], (len(y), 4, 4, 1)).astype(np.uint8)
    mapping = N.nearest_mean_map(y, images, 6)
    assert len(mapping) == 3 and list(mapping.items())[0] in ((5, 1), (1, 5))
    assert not set(mapping) & set(mapping.values())  # a class is a source or a target, never both
    noisy = _make(y, "lookalike", 0.2, c=6, dataset="mine", images=images)
    assert np.mean(noisy != y) == pytest.approx(3 * 10 / len(y))
    with pytest.raises(UserError, match="picks its class pairs from the training images"):
        _make(y, "lookalike", 0.2, c=6, dataset="mine")


def test_describe_noise_gives_a_file_no_nominal_rate():
    assert N.describe_noise("file:/x/l.npy", 0.0, 0.3944) == "file:/x/l.npy (actual 0.394)"
    assert N.describe_noise("symmetric", 0.8, 0.719) == "symmetric 0.8 (actual 0.719)"
