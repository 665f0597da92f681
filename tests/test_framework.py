"""The contrastive framework (Ciortan et al. 2021): weighted SupCon by hand, the loss-GMM, every phase on
digits, resume of a half-finished framework run, --pretrained from a framework run, and bad options."""

import json
import math
import shutil

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from noisylabels import losses
from noisylabels.cli import main
from noisylabels.detect import loss_clean_probability
from noisylabels.pipeline import run_train

FAST = {"dataset": "digits", "noise": "symmetric-exclusive", "noise_rate": 0.4, "width": 8, "batch_size": 64,
        "epochs": 3, "progress": False}


def _z(b: int, d: int, seed: int) -> torch.Tensor:
    return F.normalize(torch.randn(b, d, generator=torch.Generator().manual_seed(seed)), dim=1)


@pytest.mark.parametrize("variant", ["poster", "code"])
def test_weighted_supcon_without_labels_is_nt_xent(variant):
    """Every sample its own class and w = 1: the only positive is the twin view -> NT-Xent."""
    z1, z2 = _z(6, 5, 0), _z(6, 5, 1)
    got = losses.weighted_supcon(z1, z2, torch.arange(6), torch.ones(6), 0.5, variant=variant)
    assert torch.allclose(got, losses.info_nce(z1, z2, 0.5), atol=1e-6)


def test_weighted_supcon_by_hand():
    """Two samples of one class, B = 2 (4 embeddings): every anchor has 3 positives."""
    z1 = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    z2 = torch.tensor([[0.6, 0.8], [0.8, 0.6]])
    labels, w, t = torch.tensor([3, 3]), torch.tensor([1.0, 0.5]), 1.0
    z = torch.cat([z1, z2])
    s = (z @ z.t() / t).tolist()
    wv = [1.0, 0.5, 1.0, 0.5]
    twin = [2, 3, 0, 1]
    poster, code = 0.0, 0.0
    for i in range(4):
        others = [a for a in range(4) if a != i]
        log_den = math.log(sum(math.exp(s[i][a]) for a in others))
        v = [1.0 if p == twin[i] else wv[p] for p in others]
        poster += -sum(vp * (s[i][p] - log_den) for vp, p in zip(v, others)) / 3
        code += -math.log(sum(wv[p] * math.exp(s[i][p] - log_den) for p in others))
    got_p = losses.weighted_supcon(z1, z2, labels, w, t, variant="poster")
    got_c = losses.weighted_supcon(z1, z2, labels, w, t, variant="code")
    assert abs(float(got_p) - poster / 4) < 1e-5
    assert abs(float(got_c) - code / 4) < 1e-5


def test_zero_weight_positive_drops_its_terms():
    """A positive with w = 0 drops its (positive) terms from the anchors' sums (poster form)."""
    z1 = _z(3, 4, 2)
    z2 = _z(3, 4, 3)
    labels = torch.tensor([0, 0, 1])
    w0 = losses.weighted_supcon(z1, z2, labels, torch.tensor([1.0, 0.0, 1.0]), 0.1)
    w1 = losses.weighted_supcon(z1, z2, labels, torch.tensor([1.0, 1.0, 1.0]), 0.1)
    assert float(w0) < float(w1)  # the down-weighted pair's (large) loss terms are removed


def test_loss_gmm_finds_planted_wrong_labels():
    rng = np.random.default_rng(0)
    n, c = 600, 5
    labels = rng.integers(0, c, n)
    wrong = rng.random(n) < 0.3
    hist = []
    for _ in range(5):
        p = rng.dirichlet(np.ones(c), n) * 0.2
        p[np.arange(n), labels] += np.where(wrong, 0.05, 0.8)
        hist.append(p / p.sum(1, keepdims=True))
    w = loss_clean_probability(np.stack(hist), labels)
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(wrong, -w) > 0.99
    assert abs(np.mean(w < 0.5) - wrong.mean()) < 0.05


def test_every_phase_on_digits_and_pretrained_from_the_framework_run(tmp_path):
    out = tmp_path / "full"
    s = run_train({**FAST, "method": "framework", "method_options": {"loss": "elr", "finetune_epochs": 2}},
                  out, log=lambda m: None)
    assert set(s["phases"]) == {"pretrain", "classify", "supcon", "final"}
    for phase in s["phases"]:
        assert (out / f"phase-{phase}" / "checkpoint.pt").exists()
    assert s["test_accuracy"] > 0.3  # 10 classes: chance is 0.1
    assert 0 <= s["pseudo_label_accuracy_vs_truth"] <= 1 and not math.isnan(s["detection_auroc"])
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["phase"] for r in rows] == ["pretrain"] * 3 + ["classify"] * 3 + ["supcon"] * 2 + ["final"] * 2
    assert [r["epoch"] for r in rows] == list(range(1, 11))
    assert (out / "label_issues.csv").exists() and (out / "plots" / "label_quality.png").exists()

    # one pre-training serves another run: its encoder is the framework run's pretrain phase
    cls = run_train({**FAST, "method": "framework", "pretrained": str(out), "epochs": 1,
                     "method_options": {"loss": "ce", "phases": "pretrain,classify", "head_epochs": 1}},
                    tmp_path / "cls", log=lambda m: None)
    assert set(cls["phases"]) == {"classify"}  # pretrain skipped
    pre = torch.load(out / "phase-pretrain" / "checkpoint.pt", weights_only=False)["method"]
    got = torch.load(tmp_path / "cls" / "phase-classify" / "checkpoint.pt", weights_only=False)["method"]
    enc = [k for k in pre if k.startswith("encoder.") and "running" not in k and "num_batches" not in k]
    assert enc and all(torch.equal(pre[k], got["model." + k]) for k in enc)  # head-only epoch: encoder frozen

    # a run that was itself started --pretrained hands on the encoder it was started from
    again = run_train({**FAST, "method": "framework", "pretrained": str(tmp_path / "cls"), "epochs": 1,
                       "method_options": {"loss": "ce", "phases": "classify", "head_epochs": 1}},
                      tmp_path / "again", log=lambda m: None)
    got = torch.load(tmp_path / "again" / "phase-classify" / "checkpoint.pt", weights_only=False)["method"]
    assert set(again["phases"]) == {"classify"} and all(torch.equal(pre[k], got["model." + k]) for k in enc)


def test_resume_of_an_interrupted_framework_run_matches_the_uninterrupted_one(tmp_path):
    cfg = {**FAST, "method": "framework", "method_options": {"loss": "ce", "finetune_epochs": 2, "pretrain_epochs": 2}}
    a = run_train(cfg, tmp_path / "a", log=lambda m: None)
    b_dir = tmp_path / "b"
    shutil.copytree(tmp_path / "a", b_dir)
    # as if killed during phase b2: supcon has no checkpoint yet, b3 never started, no summary
    shutil.rmtree(b_dir / "phase-supcon")
    shutil.rmtree(b_dir / "phase-final")
    (b_dir / "summary.json").unlink()
    b = run_train({}, b_dir, resume=True, log=lambda m: None)
    assert b["test_accuracy"] == a["test_accuracy"]
    assert b["phases"]["supcon"]["test_accuracy"] == a["phases"]["supcon"]["test_accuracy"]


def test_mixup_bootstrap_finetuning(tmp_path):
    s = run_train({**FAST, "method": "framework",
                   "method_options": {"loss": "ce", "phases": "classify,finetune", "finetune": "mixup-bootstrap"}},
                  tmp_path / "mb", log=lambda m: None)
    assert set(s["phases"]) == {"classify", "mixup-bootstrap"} and s["test_accuracy"] > 0.3


@pytest.mark.parametrize("flags, message", [
    (["--phases", "pretrain,bogus"], "--phases takes a comma list"),
    (["--phases", "finetune"], "needs classify"),
    (["--loss", "mse"], "--loss must be one of"),
    (["--finetune", "distill"], "--finetune must be"),
])
def test_bad_framework_options_are_one_line_errors(tmp_path, capsys, flags, message):
    rc = main(["train", "--method", "framework", "--quiet", "--out", str(tmp_path / "x"), *flags])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()
