"""Hostile flags and run folders: every numeric flag of train / noise / bench, method options, --config
YAML, --out, --resume and detect's inputs, one named case each. Each error is one line, exit 2, no
traceback, and an earlier run's folder is left byte-identical. Inputs that a demanding user would expect
to work are asserted to work instead (the id says "ok-...", the comment why). Data files are in
test_data_files.py; the property-based cases of each input kind in test_numbers.py, test_names.py and
test_paths.py."""

import os

import numpy as np
import pytest
import yaml

from tests.helpers import FAST, cli, copy_of, snapshot, user_error

BIG = "99999999999999999999"  # 1e20: overflows int64 and every sensible range


@pytest.fixture(scope="module")
def earlier(tmp_path_factory):
    """One `noise` output and one `detect` output (templates); the earlier run is conftest's `earlier_run`."""
    root = tmp_path_factory.mktemp("earlier")
    assert cli("noise", "--dataset", "digits", "--noise", "symmetric", "--noise-rate", "0.2",
               "--out", root / "noisy.npy")[0] == 0
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 20)
    probs = rng.dirichlet(np.ones(3), 60)
    probs[np.arange(60), labels] += 2
    probs /= probs.sum(1, keepdims=True)
    np.save(root / "labels.npy", labels)
    np.save(root / "probs.npy", probs)
    assert cli("detect", "--labels", root / "labels.npy", "--pred-probs", root / "probs.npy",
               "--out", root / "detect")[0] == 0
    return root


# -- train: every numeric flag at NaN, inf, negative, zero, huge and non-numeric -------------------
INT_TEXT = "invalid int value"  # argparse refuses 'nan', 'inf', '1e30', 'abc' for an int flag
TRAIN_NUMERIC = [
    *[(f"{flag}-{v}", [flag, v], INT_TEXT) for flag in ("--epochs", "--batch-size", "--seed", "--width",
                                                         "--train-size", "--image-size", "--crop-pad", "--nproc")
      for v in ("nan", "inf", "abc")],
    *[(f"{flag}-abc", [flag, "abc"], "invalid float value") for flag in (
        "--lr", "--momentum", "--weight-decay", "--lr-warmup-epochs", "--final-lr-ratio", "--noise-rate",
        "--test-fraction")],
    ("epochs-negative", ["--epochs", "-1"], "--epochs must be at least 1"),
    ("epochs-zero", ["--epochs", "0"], "--epochs must be at least 1"),
    ("batch-size-negative", ["--batch-size", "-1"], "--batch-size must be at least 2"),
    ("batch-size-zero", ["--batch-size", "0"], "--batch-size must be at least 2"),
    ("batch-size-one", ["--batch-size", "1"], "--batch-size must be at least 2"),  # was checked after writing
    ("seed-negative", ["--seed", "-1"], "--seed must be in 0..4294967295"),
    ("seed-huge", ["--seed", BIG], "--seed must be in 0.."),  # crashed (int64 overflow)
    ("width-negative", ["--width", "-1"], "--width must be in 1..1024"),  # crashed (negative dimension)
    ("width-zero", ["--width", "0"], "--width must be in 1..1024"),
    ("width-huge", ["--width", BIG], "--width must be in 1..1024"),
    ("train-size-negative", ["--train-size", "-1"], "--train-size must be"),
    ("train-size-zero", ["--train-size", "0"], "--train-size must be"),
    ("train-size-huge", ["--train-size", BIG], "--train-size must be"),
    ("image-size-negative", ["--image-size", "-1"], "--image-size must be in 8..4096"),
    ("image-size-zero", ["--image-size", "0"], "--image-size must be in 8..4096"),
    ("image-size-huge", ["--image-size", BIG], "--image-size must be in 8..4096"),
    ("crop-pad-negative", ["--crop-pad", "-1"], "--crop-pad must be at least 0"),
    ("crop-pad-huge", ["--crop-pad", BIG], "--crop-pad"),
    ("nproc-negative", ["--nproc", "-1"], "--nproc must be at least 1"),
    ("nproc-zero", ["--nproc", "0"], "--nproc must be at least 1"),
    ("nproc-huge", ["--nproc", BIG], "--nproc"),  # would have started 1e20 processes
    *[(f"{flag}-{v}", [flag, v], f"{flag} must be a finite number") for flag in ("--lr", "--momentum",
      "--weight-decay", "--lr-warmup-epochs", "--final-lr-ratio", "--test-fraction") for v in ("nan", "inf", "-1")],
    ("lr-zero", ["--lr", "0"], "--lr must be a finite number in (0, inf)"),
    ("momentum-huge", ["--momentum", "1e30"], "--momentum must be a finite number in [0, 1)"),
    ("final-lr-ratio-huge", ["--final-lr-ratio", "1e30"], "--final-lr-ratio"),
    ("lr-warmup-epochs-huge", ["--lr-warmup-epochs", "1e30"], "must not exceed --epochs"),
    ("test-fraction-zero", ["--test-fraction", "0"], "--test-fraction"),  # digits ignores it; refuse anyway
    ("test-fraction-huge", ["--test-fraction", "1e30"], "--test-fraction"),
    *[(f"noise-rate-{v}", ["--noise", "symmetric", "--noise-rate", v], "--noise-rate must be")
      for v in ("nan", "inf", "-1", "1e30")],
]


@pytest.mark.parametrize("argv, needle", [c[1:] for c in TRAIN_NUMERIC], ids=[c[0] for c in TRAIN_NUMERIC])
def test_train_numeric_flag_is_refused_and_the_earlier_run_kept(earlier_run, argv, needle):
    folder, before = earlier_run
    user_error(["train", "--dataset", "digits", *FAST, "--overwrite", "--out", folder, *argv], needle)
    assert snapshot(folder) == before


def test_ok_numeric_edge_values_reach_training_unchanged(reach_fit, tmp_path):
    """Zero momentum / weight decay / warm-up / final ratio / crop padding, seed 0 and noise rate 0 are
    legitimate (plain SGD, no decay, ...); a huge --epochs is legitimate too (it just trains long)."""
    _, data, cfg = reach_fit("train", "--dataset", "digits", *FAST, "--momentum", "0", "--weight-decay", "0",
                             "--lr-warmup-epochs", "0", "--final-lr-ratio", "0", "--crop-pad", "0", "--seed", "0",
                             "--noise", "symmetric", "--noise-rate", "0", "--epochs", "1000000000000",
                             "--out", tmp_path / "r")
    assert (cfg.momentum, cfg.weight_decay, cfg.lr_warmup_epochs, cfg.final_lr_ratio) == (0, 0, 0, 0)
    assert cfg.epochs == 10**12 and data.views.crop_pad == 0 and bool((data.labels == data.true_labels).all())


@pytest.mark.slow
def test_ok_huge_batch_size_is_one_batch_of_the_whole_set(tmp_path):
    rc, _, err = cli("train", "--dataset", "digits", *FAST, "--batch-size", BIG, "--out", tmp_path / "r")
    assert rc == 0, err
    assert len((tmp_path / "r" / "metrics.jsonl").read_text().splitlines()) == 1


@pytest.mark.slow
@pytest.mark.parametrize("argv", [["--lr", "1e30"], ["--weight-decay", "1e30"]], ids=["lr-huge", "weight-decay-huge"])
def test_huge_lr_or_decay_diverges_with_one_line(tmp_path, argv):
    """Legal values that blow up: one line, exit 2, and no checkpoint of a NaN model."""
    user_error(["train", "--dataset", "digits", *FAST, *argv, "--out", tmp_path / "r"], "diverged at epoch 1")
    assert not (tmp_path / "r" / "checkpoint.pt").exists()


METHOD_OPTIONS = [
    *[(f"temperature-{v}", ["--method", "simclr", "--temperature", v], "--temperature") for v in
      ("nan", "inf", "-1", "0", "abc")],
    *[(f"q-{v}", ["--method", "gce", "--q", v], "--q") for v in ("nan", "-1", "0", "1e30")],
    *[(f"elr-lambda-{v}", ["--method", "elr", "--elr-lambda", v], "--elr-lambda") for v in ("nan", "inf", "-1")],
    ("folds-one", ["--method", "cleanlab-retrain", "--folds", "1"], "--folds"),
    ("mixup-alpha-zero", ["--method", "mixup-bootstrap", "--mixup-alpha", "0"], "--mixup-alpha"),
    ("head-epochs-negative", ["--head-epochs", "-1"], "--head-epochs"),
    ("proj-dim-zero", ["--method", "simclr", "--proj-dim", "0"], "--proj-dim"),
    ("dropout-one", ["--method", "tcl", "--epochs", "2", "--dropout", "1"], "--dropout"),
    ("weight-align-nan", ["--method", "tcl", "--epochs", "2", "--weight-align", "nan"], "--weight-align"),
    ("per-class-gmm-word", ["--method", "tcl", "--per-class-gmm", "maybe"], "true or false"),
]


@pytest.mark.parametrize("argv, needle", [c[1:] for c in METHOD_OPTIONS], ids=[c[0] for c in METHOD_OPTIONS])
def test_method_option_is_refused_and_the_earlier_run_kept(earlier_run, argv, needle):
    folder, before = earlier_run
    user_error(["train", "--dataset", "digits", *FAST, "--overwrite", "--out", folder, *argv], needle)
    assert snapshot(folder) == before


# -- noise and bench ---------------------------------------------------------------------------------
NOISE_CASES = [
    ("noise-rate-nan", ["--noise", "symmetric", "--noise-rate", "nan"], "--noise-rate"),
    ("seed-negative", ["--noise", "symmetric", "--noise-rate", "0.2", "--seed", "-1"], "--seed"),  # crashed
    ("train-size-zero", ["--noise", "symmetric", "--noise-rate", "0.2", "--train-size", "0"], "--train-size"),
    ("test-fraction-zero", ["--test-fraction", "0"], "--test-fraction"),  # was silently 0.1
    ("image-size-zero", ["--image-size", "0"], "--image-size"),
]


@pytest.mark.parametrize("argv, needle", [c[1:] for c in NOISE_CASES], ids=[c[0] for c in NOISE_CASES])
def test_noise_command_refuses_and_keeps_the_earlier_labels(earlier, tmp_path, argv, needle):
    target = tmp_path / "noisy.npy"
    target.write_bytes((earlier / "noisy.npy").read_bytes())
    user_error(["noise", "--dataset", "digits", *argv, "--out", target], needle)
    assert target.read_bytes() == (earlier / "noisy.npy").read_bytes()


def test_noise_out_on_a_folder_or_under_a_file(tmp_path):
    (tmp_path / "dir.npy").mkdir()
    (tmp_path / "file").write_text("x")
    base = ["noise", "--dataset", "digits", "--noise", "symmetric", "--noise-rate", "0.2", "--out"]
    user_error(base + [tmp_path / "dir.npy"], "not a file path")
    user_error(base + [tmp_path / "file" / "x.npy"], "not a file path")
    user_error(base + [tmp_path / "labels.txt"], "must end in .npy")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir.npy", "file"]


BENCH_CASES = [
    ("epochs-zero", ["--epochs", "0"], "--epochs must be at least 1"),  # silently ran the protocol's 20
    ("epochs-negative", ["--epochs", "-1"], "--epochs must be at least 1"),
    ("epochs-nan", ["--epochs", "nan"], INT_TEXT),
    ("seeds-negative", ["--seeds", "0,-1"], "--seeds"),  # trained seed 0 before failing on -1
    ("seeds-nan", ["--seeds", "nan"], "--seeds"),
    ("seeds-huge", ["--seeds", BIG], "--seeds"),
    ("train-sizes-zero", ["--train-sizes", "0"], "--train-sizes"),
    ("train-sizes-float", ["--train-sizes", "1e30"], "--train-sizes"),
    ("train-sizes-huge", ["--train-sizes", BIG], "--train-size must be"),
    ("set-lr-nan", ["--set", "lr=nan"], "--lr must be a finite number"),
    ("set-width-text", ["--set", "width=wide"], "--width must be a whole number"),
    ("set-unknown", ["--set", "bogus=1"], "--set"),
    ("protocol-unknown", ["--protocol", "nosuch"], "unknown protocol"),
    ("case-bad", ["--cases", "sym800"], "at most 100%"),
]


@pytest.mark.parametrize("argv, needle", [c[1:] for c in BENCH_CASES], ids=[c[0] for c in BENCH_CASES])
def test_bench_refuses_before_training(tmp_path, argv, needle):
    grid = tmp_path / "grid"
    user_error(["bench", "--protocol", "digits-mini", "--methods", "ce", "--cases", "none", "--epochs", "1",
                "--set", "width=8", "--out", grid, *argv], needle)
    assert not grid.exists()  # not one cell trained


# -- --config YAML -------------------------------------------------------------------------------------
YAML_CASES = [
    ("invalid-yaml", "epochs: [1\n", "cannot read"),
    ("list", "- epochs\n- 1\n", "must hold a mapping"),
    ("scalar", "5\n", "must hold a mapping"),
    ("empty", "", "must hold a mapping"),  # an empty file is more likely the wrong file than 'no options'
    ("epochs-text", "epochs: ten\n", "--epochs must be a whole number"),  # crashed (ValueError)
    ("epochs-float", "epochs: 1.5\n", "--epochs must be a whole number"),  # was silently 1
    ("epochs-bool", "epochs: true\n", "--epochs must be a whole number"),
    ("batch-size-null", "batch_size:\n", "--batch-size must be a whole number"),
    ("lr-nan", "lr: .nan\n", "--lr must be a finite number"),
    ("lr-list", "lr: [0.1]\n", "--lr must be a number"),
    ("noise-rate-text", "noise: symmetric\nnoise_rate: high\n", "--noise-rate must be a number"),
    ("dataset-number", "dataset: 5\n", "--dataset must be a non-empty text"),
    ("method-list", "method: [ce]\n", "--method must be a non-empty text"),
    ("method-options-scalar", "method_options: 5\n", "method_options in"),  # crashed
    ("method-option-text", "method: simclr\nmethod_options: {temperature: warm}\n", "--temperature must be a number"),
    ("skip-bad-images-text", "skip_bad_images: sometimes\n", "--skip-bad-images must be true or false"),
    ("unknown-key", "epoch: 3\n", "unknown key"),
    ("method-option-number-key", "method_options: {1: 0.5}\n", "has no option(s) 1"),  # a key that is no text
    ("number-of-5000-digits", "epochs: " + "9" * 5000 + "\n", "thousands of digits"),
    ("nested-500000-deep", "epochs: " + "[" * 500000 + "]" * 500000 + "\n", "nests lists or mappings"),
]


@pytest.mark.parametrize("text, needle", [c[1:] for c in YAML_CASES], ids=[c[0] for c in YAML_CASES])
def test_bad_yaml_config_is_refused_and_the_earlier_run_kept(earlier_run, tmp_path, text, needle):
    folder, before = earlier_run
    (tmp_path / "c.yaml").write_text(text)
    user_error(["train", "--config", tmp_path / "c.yaml", "--width", "8", "--quiet",
                "--overwrite", "--out", folder], needle)
    assert snapshot(folder) == before


def test_ok_yaml_exponent_without_dot_is_a_number(reach_fit, tmp_path):
    """PyYAML reads `lr: 1e-3` as the text '1e-3' (YAML 1.1); any user means the number."""
    (tmp_path / "c.yaml").write_text("lr: 1e-3\nepochs: '2'\n")
    _, _, cfg = reach_fit("train", "--dataset", "digits", "--config", tmp_path / "c.yaml", "--quiet",
                          "--out", tmp_path / "r")
    assert cfg.lr == 0.001 and cfg.epochs == 2


# -- --out and --resume ------------------------------------------------------------------------------
def test_out_on_a_file_or_under_a_file(tmp_path):
    (tmp_path / "file").write_text("x")
    user_error(["train", "--dataset", "digits", *FAST, "--out", tmp_path / "file"], "is a file")
    user_error(["train", "--dataset", "digits", *FAST, "--out", tmp_path / "file" / "run"], "is a file")
    assert (tmp_path / "file").read_text() == "x"


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into read-only folders")
def test_out_in_a_read_only_folder(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        user_error(["train", "--dataset", "digits", *FAST, "--out", ro / "run"], "denied")
        assert list(ro.iterdir()) == []
    finally:
        ro.chmod(0o700)


def test_resume_on_an_empty_or_missing_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    user_error(["train", "--resume", "--quiet", "--out", tmp_path / "empty"], "no run in")
    user_error(["train", "--resume", "--quiet", "--out", tmp_path / "missing"], "no run in")
    assert list((tmp_path / "empty").iterdir()) == [] and not (tmp_path / "missing").exists()


@pytest.mark.parametrize("argv, needle", [
    (["--method", "elr"], "--method 'ce' -> 'elr'"),  # was silently ignored: trained on as ce
    (["--noise", "symmetric", "--noise-rate", "0.3"], "--noise 'none' -> 'symmetric'"),
    (["--temperature", "0.3"], "not an option of its method 'ce'"),  # was silently ignored
], ids=["other-method", "other-noise", "option-of-another-method"])
def test_resume_with_other_settings_is_refused(earlier_run, argv, needle):
    folder, before = earlier_run
    user_error(["train", "--resume", "--quiet", "--out", folder, *argv], needle)
    assert snapshot(folder) == before


@pytest.mark.parametrize("name, data, needle", [
    ("config.yaml", b"- not\n- a mapping\n", "is damaged"),  # crashed (TypeError)
    ("config.yaml", b"epochs: [1\n", "is damaged"),  # crashed (YAMLError)
    ("checkpoint.pt", b"PK\x03\x04 torn", "cannot read checkpoint"),
], ids=["config-not-a-mapping", "config-invalid-yaml", "checkpoint-torn"])
def test_resume_on_a_damaged_run(earlier_run, name, data, needle):
    folder, _ = earlier_run
    (folder / name).write_bytes(data)
    before = snapshot(folder)
    user_error(["train", "--resume", "--quiet", "--out", folder], needle)
    assert snapshot(folder) == before


# -- detect --------------------------------------------------------------------------------------------
def _detect_case(root, name):
    """(labels, probs) arrays of one hostile detect case, from the good 60 x 3 inputs."""
    labels, probs = np.load(root / "labels.npy"), np.load(root / "probs.npy")
    return {
        "probs-not-summing-to-1": (labels, probs * 2),
        "probs-negative": (labels, probs - 0.2),
        "probs-nan": (labels, np.where(probs > 0.9, np.nan, probs)),
        "probs-one-class": (np.zeros(60, dtype=np.int64), np.ones((60, 1))),  # crashed / meaningless
        "probs-1d": (labels, probs[:, 0]),
        "probs-empty": (labels[:0], probs[:0]),
        "labels-float": (labels + 0.5, probs),
        "labels-2d": (labels[:, None].repeat(2, 1), probs),
        "labels-out-of-range": (labels + 1, probs),
        "labels-negative": (labels - 1, probs),
        "labels-wrong-length": (labels[:50], probs),
    }[name]


DETECT_NEEDLES = {"probs-not-summing-to-1": "sum to 1", "probs-negative": "non-negative", "probs-nan": "finite",
                  "probs-one-class": "at least 2 classes", "probs-1d": "2-D", "probs-empty": "no samples",
                  "labels-float": "integer", "labels-2d": "1-D", "labels-out-of-range": "must lie in",
                  "labels-negative": "must lie in", "labels-wrong-length": "rows"}


@pytest.mark.parametrize("name", list(DETECT_NEEDLES))
def test_detect_refuses_bad_predictions_and_keeps_the_earlier_output(earlier, tmp_path, name):
    folder, before = copy_of(earlier / "detect", tmp_path / "detect")
    labels, probs = _detect_case(earlier, name)
    np.save(tmp_path / "l.npy", labels)
    np.save(tmp_path / "p.npy", probs)
    user_error(["detect", "--labels", tmp_path / "l.npy", "--pred-probs", tmp_path / "p.npy", "--out", folder],
               DETECT_NEEDLES[name])
    assert snapshot(folder) == before


@pytest.mark.parametrize("extra, needle", [
    (["--true-labels", "{tmp}/t_float.npy"], "holds non-integer values"),  # 1.5 was truncated to 1
    (["--true-labels", "{tmp}/t_range.npy"], "--true-labels must be"),
    (["--features", "{tmp}/f_short.npy"], "features"),
    (["--images", "{tmp}/i_float.npy"], "uint8"),
    (["--labels", "{tmp}/header.csv"], "labels"),  # CSV with a header only
    (["--pred-probs", "{tmp}/p.txt"], ".npy or .csv"),
], ids=["true-labels-float", "true-labels-out-of-range", "features-wrong-rows", "images-float", "labels-csv-header-only",
        "probs-wrong-suffix"])
def test_detect_refuses_bad_side_inputs(earlier, tmp_path, extra, needle):
    folder, before = copy_of(earlier / "detect", tmp_path / "detect")
    np.save(tmp_path / "t_float.npy", np.full(60, 1.5))
    np.save(tmp_path / "t_range.npy", np.full(60, 7))
    np.save(tmp_path / "f_short.npy", np.ones((10, 4), dtype=np.float32))
    np.save(tmp_path / "i_float.npy", np.ones((60, 4, 4)))
    (tmp_path / "header.csv").write_text("label\n")
    (tmp_path / "p.txt").write_text("0.5,0.5\n")
    args = {"--labels": earlier / "labels.npy", "--pred-probs": earlier / "probs.npy"}
    extra = [a.format(tmp=tmp_path) for a in extra]
    args.update(dict(zip(extra[::2], extra[1::2])))
    user_error(["detect", *[x for kv in args.items() for x in kv], "--out", folder], needle)
    assert snapshot(folder) == before


def test_detect_out_and_run_mistakes(earlier, earlier_run, tmp_path):
    folder, before = earlier_run
    good = ["--labels", earlier / "labels.npy", "--pred-probs", earlier / "probs.npy"]
    (tmp_path / "file").write_text("x")
    user_error(["detect", *good, "--out", tmp_path / "file"], "is a file")
    user_error(["detect", *good, "--out", folder], "holds a training run")
    (tmp_path / "empty").mkdir()
    user_error(["detect", "--run", tmp_path / "empty"], "no config.yaml")
    user_error(["detect", "--run", folder, *good], "either --run")
    assert snapshot(folder) == before and (tmp_path / "file").read_text() == "x"
    assert list((tmp_path / "empty").iterdir()) == []


def test_ok_detect_csv_inputs_with_crlf(earlier, tmp_path):
    """Spreadsheet exports (CRLF line ends, a header row) are ordinary input."""
    labels, probs = np.load(earlier / "labels.npy"), np.load(earlier / "probs.npy")
    (tmp_path / "l.csv").write_bytes(("label\r\n" + "".join(f"{v}\r\n" for v in labels)).encode())
    (tmp_path / "p.csv").write_bytes(("a,b,c\r\n" + "".join(",".join(repr(float(x)) for x in r) + "\r\n" for r in probs)).encode())
    rc, _, err = cli("detect", "--labels", tmp_path / "l.csv", "--pred-probs", tmp_path / "p.csv", "--out", tmp_path / "d")
    assert rc == 0, err
    assert (tmp_path / "d" / "label_issues.csv").read_bytes() == (earlier / "detect" / "label_issues.csv").read_bytes()


def test_the_suite_covers_enough_cases():
    n = (len(TRAIN_NUMERIC) + len(METHOD_OPTIONS) + len(NOISE_CASES) + len(BENCH_CASES) + len(YAML_CASES)
         + len(DETECT_NEEDLES))
    assert n >= 60, n
    assert yaml.safe_load("lr: 1e-3")["lr"] == "1e-3"  # the premise of test_ok_yaml_exponent_without_dot...


def test_noise_out_that_exists_needs_overwrite(earlier_run):
    """`noise --out` pointed at a file that exists (a run's own noisy_labels.npy) is refused without --overwrite."""
    run, before = earlier_run
    base = ["noise", "--dataset", "digits", "--noise", "symmetric", "--noise-rate", "0.5", "--out",
            run / "noisy_labels.npy"]
    user_error(base, "--overwrite")
    assert snapshot(run) == before
    assert cli(*base, "--overwrite")[0] == 0 and snapshot(run)["noisy_labels.npy"] != before["noisy_labels.npy"]
