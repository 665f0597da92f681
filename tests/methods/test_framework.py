"""The contrastive framework (Ciortan et al. 2021): weighted SupCon by hand, the loss-GMM, every phase on
digits, resume of a half-finished framework run, --pretrained from a framework run, and bad options."""

import json
import math
import shutil

import numpy as np
import pytest
import torch

from noisylabels import losses
from noisylabels.cli import main
from noisylabels.detect import loss_clean_probability
from noisylabels.app.run import run_train
from tests.helpers import QUIET, digits_config, unit_vectors

FAST = digits_config(noise="symmetric-exclusive", noise_rate=0.4, epochs=3)  # 3 epochs a phase by default


@pytest.mark.parametrize("variant", ["poster", "code"])
def test_weighted_supcon_without_labels_is_nt_xent(variant):
    """Every sample its own class and w = 1: the only positive is the twin view -> NT-Xent (the public
    code's form scaled by temperature / 0.07)."""
    z1, z2 = unit_vectors(6, 5, 0), unit_vectors(6, 5, 1)
    got = losses.weighted_supcon(z1, z2, torch.arange(6), torch.ones(6), 0.5, variant=variant)
    scale = 0.5 / 0.07 if variant == "code" else 1.0
    assert torch.allclose(got, scale * losses.info_nce(z1, z2, 0.5), atol=1e-5)


def _supcon_by_hand(z: list[list[float]], labels: list[int], w: list[float], t: float) -> tuple[float, float]:
    """Both variants in plain Python over 2B embeddings (rows 0..B-1 view 1, B..2B-1 view 2)."""
    n, b = len(z), len(z) // 2
    s = [[sum(x * y for x, y in zip(z[i], z[j])) / t for j in range(n)] for i in range(n)]
    lab, wv = labels + labels, w + w
    poster = code = 0.0
    for i in range(n):
        twin = (i + b) % n
        den = sum(math.exp(s[i][a]) for a in range(n) if a != i)
        pos = [p for p in range(n) if p != i and lab[p] == lab[i]]
        poster += -math.log(sum((1.0 if p == twin else wv[p]) * math.exp(s[i][p]) / den for p in pos) / len(pos))
        code += -(t / 0.07) * sum(wv[p] * (s[i][p] - math.log(den)) for p in pos) / sum(wv[p] for p in pos)
    return poster / n, code / n


@pytest.mark.parametrize("t", [1.0, 0.07])
def test_weighted_supcon_by_hand(t):
    """The poster's -log of the weighted mean of probabilities (twin weight 1) and the public code's
    weighted mean of log-probabilities, on a small case and on a random B = 12, 3-class one."""
    cases = [(torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([[0.6, 0.8], [0.8, 0.6]]),
              torch.tensor([3, 3]), torch.tensor([1.0, 0.5]))]
    g = torch.Generator().manual_seed(7)
    cases.append((unit_vectors(12, 8, 11), unit_vectors(12, 8, 12), torch.randint(0, 3, (12,), generator=g), torch.rand(12, generator=g)))
    for z1, z2, labels, w in cases:
        poster, code = _supcon_by_hand(torch.cat([z1, z2]).tolist(), labels.tolist(), w.tolist(), t)
        got_p = losses.weighted_supcon(z1, z2, labels, w, t, variant="poster")
        got_c = losses.weighted_supcon(z1, z2, labels, w, t, variant="code")
        assert float(got_p) == pytest.approx(poster, rel=1e-5)
        assert float(got_c) == pytest.approx(code, rel=1e-5)


def test_zero_weight_positive_raises_the_posters_loss():
    """The poster's form keeps a w = 0 positive in |P(i)|: lowering its weight raises the loss (less
    probability mass on the positives), where the earlier log-inside form lowered it."""
    z1, z2 = unit_vectors(3, 4, 2), unit_vectors(3, 4, 3)
    labels = torch.tensor([0, 0, 1])
    w0, w1 = torch.tensor([1.0, 0.0, 1.0]), torch.ones(3)
    assert float(losses.weighted_supcon(z1, z2, labels, w0, 0.1)) > float(losses.weighted_supcon(z1, z2, labels, w1, 0.1))


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


@pytest.mark.slow
def test_every_phase_on_digits_and_pretrained_from_the_framework_run(tmp_path):
    out = tmp_path / "full"
    s = run_train({**FAST, "method": "framework", "method_options": {"loss": "elr", "finetune_epochs": 2}},
                  out, **QUIET)
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
                    tmp_path / "cls", **QUIET)
    assert set(cls["phases"]) == {"classify"}  # pretrain skipped
    pre = torch.load(out / "phase-pretrain" / "checkpoint.pt", weights_only=False)["method"]
    got = torch.load(tmp_path / "cls" / "phase-classify" / "checkpoint.pt", weights_only=False)["method"]
    enc = [k for k in pre if k.startswith("encoder.") and "running" not in k and "num_batches" not in k]
    assert enc and all(torch.equal(pre[k], got["model." + k]) for k in enc)  # head-only epoch: encoder frozen

    # a run that was itself started --pretrained hands on the encoder it was started from
    again = run_train({**FAST, "method": "framework", "pretrained": str(tmp_path / "cls"), "epochs": 1,
                       "method_options": {"loss": "ce", "phases": "classify", "head_epochs": 1}},
                      tmp_path / "again", **QUIET)
    got = torch.load(tmp_path / "again" / "phase-classify" / "checkpoint.pt", weights_only=False)["method"]
    assert set(again["phases"]) == {"classify"} and all(torch.equal(pre[k], got["model." + k]) for k in enc)


@pytest.mark.slow
def test_resume_of_an_interrupted_framework_run_matches_the_uninterrupted_one(tmp_path):
    cfg = {**FAST, "method": "framework", "method_options": {"loss": "ce", "finetune_epochs": 2, "pretrain_epochs": 2}}
    a = run_train(cfg, tmp_path / "a", **QUIET)
    b_dir = tmp_path / "b"
    shutil.copytree(tmp_path / "a", b_dir)
    # as if killed during phase b2: supcon has no checkpoint yet, b3 never started, no summary
    shutil.rmtree(b_dir / "phase-supcon")
    shutil.rmtree(b_dir / "phase-final")
    (b_dir / "summary.json").unlink()
    b = run_train({}, b_dir, resume=True, **QUIET)
    assert b["test_accuracy"] == a["test_accuracy"]
    assert b["phases"]["supcon"]["test_accuracy"] == a["phases"]["supcon"]["test_accuracy"]


@pytest.mark.slow
def test_mixup_bootstrap_finetuning(tmp_path):
    s = run_train({**FAST, "method": "framework",
                   "method_options": {"loss": "ce", "phases": "classify,finetune", "finetune": "mixup-bootstrap"}},
                  tmp_path / "mb", **QUIET)
    assert set(s["phases"]) == {"classify", "mixup-bootstrap"} and s["test_accuracy"] > 0.3


@pytest.mark.parametrize("flags, message", [
    (["--phases", "pretrain,bogus"], "--phases takes a comma list"),
    (["--phases", "finetune"], "needs classify"),
    (["--loss", "mse"], "--loss must be one of"),
    (["--finetune", "distill"], "--finetune must be"),
])
def test_bad_framework_options_are_one_line_errors(tmp_path, capsys, flags, message):
    rc = main(["train", "--dataset", "digits", "--method", "framework", "--quiet", "--out", str(tmp_path / "x"),
               *flags])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()


@pytest.mark.slow
def test_supcon_phase_continues_the_pretrain_projector(tmp_path, monkeypatch):
    """Phase b2 starts from phase a1's projection head (the public code reuses it), not a new one."""
    from noisylabels.engine import PhaseRunner

    real_fit = PhaseRunner.fit
    heads: dict[str, dict[str, torch.Tensor]] = {}

    def recording_fit(self, name, method, data, cfg):
        if name == "supcon":
            heads["supcon_start"] = {k: v.clone() for k, v in method.projector.state_dict().items()}
        result = real_fit(self, name, method, data, cfg)
        if name == "pretrain":
            heads["pretrain_end"] = {k: v.clone() for k, v in method.projector.state_dict().items()}
        return result

    monkeypatch.setattr(PhaseRunner, "fit", recording_fit)
    run_train({**FAST, "epochs": 1, "method": "framework", "method_options": {"finetune_epochs": 1}},
              tmp_path / "r", **QUIET)
    assert heads["pretrain_end"].keys() == heads["supcon_start"].keys()
    assert all(torch.equal(heads["pretrain_end"][k], heads["supcon_start"][k]) for k in heads["pretrain_end"])
