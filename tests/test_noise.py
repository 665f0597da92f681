import numpy as np
import pytest

from noisylabels.data import noise as N
from noisylabels.errors import UserError


def _labels(n_per_class: int = 200, c: int = 10) -> np.ndarray:
    return np.repeat(np.arange(c), n_per_class)


def test_symmetric_exclusive_is_exact():
    y = _labels()
    noisy = N.make_noisy_labels(y, noise="symmetric-exclusive", rate=0.37, num_classes=10, seed=0)
    assert np.sum(noisy != y) == round(0.37 * len(y))


def test_symmetric_draws_from_all_classes():
    y = _labels(1000)
    noisy = N.make_noisy_labels(y, noise="symmetric", rate=0.8, num_classes=10, seed=0)
    actual = np.mean(noisy != y)
    assert abs(actual - 0.8 * 9 / 10) < 0.01
    report = N.noise_report(y, noisy, 10)
    off = np.array(report["transition_matrix"])[~np.eye(10, dtype=bool)]
    assert off.min() > 0.045 and off.max() < 0.115  # ~ 0.8 / 10 each, +- 4 binomial std (n = 1000)


@pytest.mark.parametrize("dataset", ["cifar10", "fashion-mnist"])
def test_asymmetric_moves_exact_counts_along_the_map_only(dataset):
    y = _labels()
    noisy = N.make_noisy_labels(y, noise="asymmetric", rate=0.4, num_classes=10, seed=1, dataset=dataset)
    mapping = N.ASYMMETRIC_MAPS[dataset]
    for c in range(10):
        moved = noisy[y == c] != c
        if c in mapping:
            assert moved.sum() == 80 and set(noisy[y == c][moved]) == {mapping[c]}
        else:
            assert moved.sum() == 0


def test_cifar100_map_stays_inside_superclasses_in_cycles_of_five():
    m = N.cifar100_superclass_map()
    assert sorted(m.values()) == list(range(100))
    for start in range(100):
        cycle, c = [start], m[start]
        while c != start:
            cycle.append(c)
            c = m[c]
        assert len(cycle) == 5
        assert len({int(N.CIFAR100_COARSE[x]) for x in cycle}) == 1
    assert m[4] in np.flatnonzero(N.CIFAR100_COARSE == 0)  # beaver -> another aquatic mammal


def test_pairflip_exact_per_class():
    y = _labels(100, 5)
    noisy = N.make_noisy_labels(y, noise="pairflip", rate=0.3, num_classes=5, seed=0)
    for c in range(5):
        assert np.sum(noisy[y == c] == (c + 1) % 5) == 30


def test_seeded_rate_zero_and_none():
    y = _labels()
    a = N.make_noisy_labels(y, noise="symmetric", rate=0.5, num_classes=10, seed=3)
    b = N.make_noisy_labels(y, noise="symmetric", rate=0.5, num_classes=10, seed=3)
    c = N.make_noisy_labels(y, noise="symmetric", rate=0.5, num_classes=10, seed=4)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    for name in ("symmetric", "pairflip", "none"):
        assert np.array_equal(N.make_noisy_labels(y, noise=name, rate=0.0, num_classes=10, seed=0), y)


def test_instance_noise_rate_and_dependence_on_images():
    rng = np.random.default_rng(0)
    y = _labels(300)
    images = rng.integers(0, 256, (len(y), 8, 8, 1), dtype=np.uint8)
    noisy = N.make_noisy_labels(y, noise="instance", rate=0.4, num_classes=10, seed=0, images=images)
    assert abs(np.mean(noisy != y) - 0.4) < 0.03
    other = N.make_noisy_labels(y, noise="instance", rate=0.4, num_classes=10, seed=0, images=255 - images)
    assert not np.array_equal(noisy, other)
    with pytest.raises(UserError, match="images"):
        N.make_noisy_labels(y, noise="instance", rate=0.4, num_classes=10, seed=0)


@pytest.mark.parametrize("kwargs, needle", [
    ({"noise": "gaussian", "rate": 0.2}, "unknown noise"),
    ({"noise": "symmetric", "rate": 1.5}, "[0, 1]"),
    ({"noise": "asymmetric", "rate": 0.2, "dataset": "digits"}, "pairflip"),
])
def test_bad_arguments(kwargs, needle):
    with pytest.raises(UserError) as e:
        N.make_noisy_labels(_labels(), num_classes=10, seed=0, **kwargs)
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_labels_out_of_range():
    with pytest.raises(UserError, match=r"\[0, 10\)"):
        N.make_noisy_labels(np.array([0, 10]), noise="none", rate=0.0, num_classes=10, seed=0)


def test_label_files_round_trip(tmp_path):
    y = np.array([0, 2, 1, 1])
    np.save(tmp_path / "a.npy", y)
    np.savez(tmp_path / "b.npz", worse_label=y, aggre_label=y[::-1])
    (tmp_path / "c.csv").write_text("label\ncat\ndog\nbird\nbird\n")
    (tmp_path / "d.csv").write_text("0\n2\n1\n1\n")
    names = ["cat", "bird", "dog"]
    load = lambda p: N.load_label_file(str(p), n=4, num_classes=3, class_names=names)  # noqa: E731
    assert np.array_equal(load(tmp_path / "a.npy"), y)
    assert np.array_equal(load(f"{tmp_path / 'b.npz'}#aggre_label"), y[::-1])
    assert np.array_equal(load(tmp_path / "c.csv"), y)
    assert np.array_equal(load(tmp_path / "d.csv"), y)
    with pytest.raises(UserError, match="#worse_label"):
        load(tmp_path / "b.npz")
    with pytest.raises(UserError, match="has 4 labels but the training set has 5"):
        N.load_label_file(str(tmp_path / "a.npy"), n=5, num_classes=3)
    np.save(tmp_path / "f.npy", np.array([0.5, 1, 2, 0]))
    with pytest.raises(UserError, match="integers"):
        load(tmp_path / "f.npy")


def test_cifar_n_pt_file(tmp_path):
    torch = pytest.importorskip("torch")
    y = np.array([0, 2, 1, 1])
    torch.save({"worse_label": y, "aggre_label": y, "clean_label": y}, tmp_path / "CIFAR-10_human.pt")
    got = N.make_noisy_labels(y, noise=f"file:{tmp_path / 'CIFAR-10_human.pt'}#worse_label", rate=0.0,
                              num_classes=3, seed=0)
    assert np.array_equal(got, y)


def test_noise_report_by_hand():
    r = N.noise_report(np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1]), 3)
    assert r["noise_rate_actual"] == 0.25
    assert r["transition_matrix"] == [[0.5, 0.5, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]]
