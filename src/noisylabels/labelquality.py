"""Label quality, flag counts and suggested labels from any probabilities (numpy; scikit-learn's mixture).

One detector for every method, built on confident learning (Northcutt, Jiang, Chuang; JAIR 2021):

1. Per-class thresholds t_j = mean of p_ij over the samples labelled j: how confident the model is,
   on average, in a label of class j. Class-conditional noise (40% of shirts labelled T-shirt) and
   classes that look alike lower some t_j; raw self-confidence then ranks every sample of those
   classes as suspect.
2. Class-normalised probabilities q_ij = (p_ij / t_j) / sum_k (p_ik / t_k): the prediction with each
   class's typical confidence divided out.
3. ``label_quality`` = the mean of q_{i, y~_i} and the class-normalised margin
   (1 + q_{i, y~_i} - max_{j != y~_i} q_ij) / 2: continuous in [0, 1], higher = more likely right. The
   margin ranks structured noise best (look-alike classes, instance noise), q_y uniform noise; their
   mean is never far from the better one (docs/RESULTS.md, "Label issues"). The suggested label is
   argmax_j q_ij (the best other class on a flagged row).
4. How many to flag depends on where the probabilities come from (``provenance``):
   - "out-of-sample" (K-fold or held-out predictions: ``detect --pred-probs``, a cross-fitted probe): the
     geometric mean of two counts that err in opposite directions, the calibrated confident joint's
     off-diagonal mass (Northcutt et al. 2021, Eqs. 1-2; it misses wrong labels on ambiguous images, as
     human annotators make them) and the samples whose class-normalised argmax is another class (it also
     counts the model's own mistakes), spread over the given classes by the confident joint's rows
     (:func:`joint_shares`). Each class's share is then spread over the other classes in proportion to
     the joint's row, each pair (given k, other j) claims its samples of largest p_j - p_k (confident
     learning's prune-by-noise-rate), and the class keeps as many flags as samples were claimed (a sample
     that several pairs claim is one wrong label, not several: :func:`pair_claimed_counts`; where the
     mixture below doubts most labels and the shares put more than ``MOST_WRONG_SHARE`` of them wrong,
     every pair's margins favour the same doubted samples and the class keeps its share; never more than
     the class's samples whose argmax is another class, :func:`doubted_counts`), its samples
     least likely to be right under the estimated noise (:func:`given_label_posterior`: Bayes' rule with
     the joint's transition rates, so that a confusion with a class that sends no wrong labels to the
     given one counts for little). The flags are then capped at the count of a two-component mixture of
     the self-confidence logits (:attr:`ConfidenceMixture.ceiling`, the papers' GMM selection), keeping
     those of lowest posterior: where both counts take in the model's own mistakes (uniform flips, a
     strong model) the flipped labels form the mixture's second mode; where wrong labels are few or
     ambiguous it counts high and caps nothing.
   - "in-sample" (the final model's probabilities of its own training images): anchor points (Patrini et
     al., CVPR 2017, Sec. 4, in a hard-label form). A model's in-sample confusions between look-alike
     classes are not label noise (on clean Fashion-MNIST the two counts above flag 5-12%); the anchors
     of class i, the ``ANCHOR_SHARE`` of samples (by count of class i) with the highest p_i, are
     confidently predicted and correctly labelled there. Their given labels estimate row i of
     T_ij = P(y~ = j | y = i); the class priors pi solve pi T = (the given shares); n_c = N sum_{i != c}
     pi_i T_ic wrong labels are given class c; the per-class flag count is the geometric mean of n_c
     and the number of class c among the sum_c n_c lowest-quality samples overall. A class whose anchors
     the model is unsure of (:func:`unsure_classes`) takes the other rows' mean noise rate: its anchors'
     labels mix the model's confusions with wrong labels. A method whose classifier learns from its own
     predictions (TCL) brings ``count_probs`` for the anchors: the agreement (:func:`agreed_probs`) of
     its classifier and a probe trained on the given labels alone.
   Both: a flag whose (given, suggested) pair of classes the model does not separate (the samples
   labelled with either are ranked alike by log p_s - log p_y: a Mann-Whitney test at
   |z| < ``SEPARATION_Z``) is dropped: the model has no evidence for either label of such a pair. A pair
   ranked the wrong way round (z <= -``SEPARATION_Z``, most of both labels wrong) is separated: its flags stay.
   :class:`CountEvidence` says when the inputs cannot pin the count down.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

ANCHOR_SHARE = 0.2  # share of a class (by its given-label count) taken as its anchors
MIN_ANCHORS = 5
PROVENANCES = ("in-sample", "out-of-sample")
SEPARATION_Z = 3.0  # |z| of the Mann-Whitney test above which a pair of classes is separated
UNCERTAIN_RATIO = 2.0  # the two out-of-sample counts further apart than this: the count is uncertain
MEMORISED_AGREEMENT = 0.99  # in-sample argmax = given label on this share or more: the model fit its labels
WEAK_MODEL_ERRORS = 0.25  # the model disagrees with this share of the labels beyond those flagged: too weak
POINT_MASS_STD = 0.01  # a mixture component whose logits' standard deviation is below this sits on one value
UNSURE_ANCHORS = 0.65  # a class whose anchors' mean probability is below this fraction of the classes' median
MOST_WRONG_SHARE = 0.7  # the mixture doubts most labels and the shares put more than this share wrong: not pooled


def class_thresholds(labels: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """t (C,): mean of probs[i, j] over the samples labelled j (1/C for a class with no sample).

    labels: int (N,); probs: (N, C) rows summing to 1."""
    c = probs.shape[1]
    counts = np.bincount(labels, minlength=c).astype(np.float64)
    sums = np.bincount(labels, weights=probs[np.arange(len(labels)), labels], minlength=c)
    return np.where(counts > 0, sums / np.maximum(counts, 1), 1.0 / c).clip(1e-6, None)


def normalised_probs(labels: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """q (N, C) = (p_ij / t_j) / sum_k (p_ik / t_k), t from :func:`class_thresholds`."""
    q = probs / class_thresholds(labels, probs)[None]
    return q / np.maximum(q.sum(1, keepdims=True), 1e-12)


def confident_joint(labels: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Calibrated confident joint (C, C) of (given label, estimated true label), in samples.

    Row y~ counts the samples labelled y~ by the most probable class among those whose probability
    reaches its class threshold (samples above no threshold are not counted); each row is then
    rescaled to the number of samples labelled y~ (Northcutt et al. 2021, Eqs. 1-2)."""
    n, c = probs.shape
    above = probs >= class_thresholds(labels, probs)[None]
    masked = np.where(above, probs, -1.0)
    guess = masked.argmax(1)
    counted = above.any(1)
    cj = np.zeros((c, c))
    np.add.at(cj, (labels[counted], guess[counted]), 1.0)
    rows = cj.sum(1, keepdims=True)
    sizes = np.bincount(labels, minlength=c).astype(np.float64)[:, None]
    return np.where(rows > 0, cj / np.maximum(rows, 1) * sizes, np.eye(c) * sizes)


def issue_counts(labels: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Estimated number of wrong labels per given class (C,) ints: the calibrated joint's off-diagonal
    row sums, rounded."""
    cj = confident_joint(labels, probs)
    return np.rint(cj.sum(1) - np.diag(cj)).astype(np.int64)


def noise_prior(labels: np.ndarray, probs: np.ndarray) -> float:
    """Estimated share of wrong labels (the confident joint's off-diagonal mass over N)."""
    return float(issue_counts(labels, probs).sum()) / max(1, len(labels))


def class_noise_rates(labels: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Estimated share of wrong labels per given class (C,): :func:`issue_counts` over the class sizes."""
    counts = issue_counts(labels, probs)
    return counts / np.bincount(labels, minlength=len(counts)).clip(1)


def anchor_transition(labels: np.ndarray, probs: np.ndarray, share: float = ANCHOR_SHARE) -> np.ndarray:
    """T (C, C): row i = the given-label distribution among the anchors of class i, the
    max(MIN_ANCHORS, round(share * n_i)) samples with the highest probs[:, i] (n_i = samples labelled
    i; ties by index). Row i of an estimate of P(y~ = j | y = i) (Patrini et al. 2017, Sec. 4)."""
    return _anchors(labels, probs, share)[0]


def _anchors(labels: np.ndarray, probs: np.ndarray, share: float) -> tuple[np.ndarray, np.ndarray]:
    """(T (C, C) of :func:`anchor_transition`, each class's anchor confidence (C,): the mean probs[:, i]
    over the anchors of class i)."""
    n, c = probs.shape
    sizes = np.bincount(labels, minlength=c)
    t, confidence = np.zeros((c, c)), np.zeros(c)
    for i in range(c):
        k = min(n, max(MIN_ANCHORS, int(round(share * sizes[i]))))
        top = np.lexsort((np.arange(n), -probs[:, i]))[:k]
        t[i] = np.bincount(labels[top], minlength=c) / k
        confidence[i] = probs[top, i].mean()
    return t, confidence


def unsure_classes(labels: np.ndarray, probs: np.ndarray, share: float = ANCHOR_SHARE) -> np.ndarray:
    """Indices of the classes whose anchors the model is unsure of: their anchor confidence below
    ``UNSURE_ANCHORS`` times the median over the classes. Even its best examples of such a class are not
    confidently that class, so the labels among them mix the model's own confusions with wrong labels
    (on colour photos a small network learns slowly, the anchors of shirt, coat and pullover were 41-77%
    that class)."""
    return _unsure(_anchors(labels, probs, share)[1])


def _unsure(confidence: np.ndarray) -> np.ndarray:
    """:func:`unsure_classes` from the anchor confidences (C,)."""
    return np.flatnonzero(confidence < UNSURE_ANCHORS * np.median(confidence))


def anchor_issue_counts(labels: np.ndarray, probs: np.ndarray, share: float = ANCHOR_SHARE) -> np.ndarray:
    """Estimated wrong labels per given class (C,) floats, N sum_{i != c} pi_i T_ic, with T from
    :func:`anchor_transition` and the true-class priors pi solving pi T = the given shares (clipped
    at 0 and renormalised; the given shares where T is singular). The row of a class in
    :func:`unsure_classes` falls back to the mean noise rate of the other rows (its own off-diagonal
    proportions kept; uniform where it has none); where every class is unsure, nothing changes."""
    return _anchor_counts(labels, probs, share)[0]


def _anchor_counts(labels: np.ndarray, probs: np.ndarray, share: float) -> tuple[np.ndarray, np.ndarray]:
    """(:func:`anchor_issue_counts`, :func:`unsure_classes`) from one pass over the anchors."""
    c = probs.shape[1]
    sizes = np.bincount(labels, minlength=c).astype(np.float64)
    given_share = sizes / max(1.0, sizes.sum())
    t, confidence = _anchors(labels, probs, share)
    unsure = _unsure(confidence)
    if 0 < len(unsure) < c:
        rate = 1.0 - float(np.mean(np.delete(np.diag(t), unsure)))
        for i in unsure:
            off = t[i].copy()
            off[i] = 0.0
            off = off / off.sum() if off.sum() > 0 else np.where(np.arange(c) == i, 0.0, 1.0 / (c - 1))
            t[i] = off * rate
            t[i, i] = 1.0 - rate
    try:
        pi = np.linalg.solve(t.T, given_share).clip(0, None)
    except np.linalg.LinAlgError:
        pi = given_share
    pi = pi / pi.sum() if pi.sum() > 0 else given_share
    joint = pi[:, None] * t  # P(y = i, y~ = j)
    return np.minimum((joint.sum(0) - np.diag(joint)) * sizes.sum(), sizes), unsure


def flag_counts(labels: np.ndarray, probs: np.ndarray, quality: np.ndarray,
                anchor: np.ndarray | None = None) -> np.ndarray:
    """In-sample flags per given class (C,) ints: the geometric mean of the anchor count n_c
    (:func:`anchor_issue_counts`) and the number of class c among the round(sum n_c) samples of
    lowest ``quality`` (N,) overall. The anchor counts place structured noise in the right classes;
    the overall lowest-quality share keeps the flags where the ranking puts them under instance and
    uniform noise (docs/RESULTS.md, "Flag counts"). ``anchor``: the anchor counts where already computed."""
    c = probs.shape[1]
    anchor = anchor_issue_counts(labels, probs) if anchor is None else anchor
    lowest = rank_lowest(quality)[:int(round(anchor.sum()))]
    overall = np.bincount(labels[lowest], minlength=c)
    return np.rint(np.sqrt(anchor * overall)).astype(np.int64)


def joint_shares(joint: np.ndarray, total: float) -> np.ndarray:
    """Flags per given class (C,) ints: ``total`` spread over the classes in proportion to the off-diagonal
    mass of their rows of the confident joint ``joint`` (C, C) (none where the joint has none)."""
    off = joint.sum(1) - np.diag(joint)
    return np.rint(off * total / off.sum() if off.sum() > 0 else np.zeros_like(off)).astype(np.int64)


def pair_claimed_counts(labels: np.ndarray, probs: np.ndarray, shares: np.ndarray,
                        joint: np.ndarray | None = None) -> np.ndarray:
    """Out-of-sample flags per given class (C,) ints, at most ``shares`` (C,): class k's share is spread
    over the classes j != k in proportion to row k of the confident joint (``joint`` (C, C), computed by
    :func:`confident_joint` where not given); pair (k, j) claims its round(share_kj) samples labelled k of
    largest p_j - p_k (ties by index); the class keeps the number of distinct samples claimed. A class
    whose row has no off-diagonal mass keeps its share."""
    c = probs.shape[1]
    cj = confident_joint(labels, probs) if joint is None else joint
    out = np.asarray(shares, dtype=np.int64).copy()
    for k in range(c):
        off = cj[k].copy()
        off[k] = 0.0
        idx = np.flatnonzero(labels == k)
        if shares[k] <= 0 or off.sum() <= 0 or len(idx) == 0:
            continue
        claimed = np.zeros(len(idx), dtype=bool)
        for j in np.flatnonzero(off > 0):
            take = int(round(off[j] * shares[k] / off.sum()))
            if take > 0:
                margin = probs[idx, j] - probs[idx, k]
                claimed[np.lexsort((idx, -margin))[:take]] = True
        out[k] = min(int(shares[k]), int(claimed.sum()))
    return out


def doubted_counts(labels: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Per given class (C,) ints: its samples whose most probable class in ``probs`` (N, C) is another one,
    the most wrong labels the model itself gives evidence for. The out-of-sample count keeps each class
    under it: the class-normalised estimates inflate where a given class is mostly wrong (its threshold
    t_j falls, and every other class's samples look like it); cleanlab's ``find_label_issues`` likewise drops
    every flag whose given label is the model's argmax."""
    return np.bincount(labels[probs.argmax(1) != labels], minlength=probs.shape[1]).astype(np.int64)


def given_label_posterior(labels: np.ndarray, q: np.ndarray, joint: np.ndarray) -> np.ndarray:
    """(N,) P(y = y~_i | x_i, y~_i): the probability that the given label is the true one, by Bayes' rule
    with the noise transitions T_jk = P(y~ = k | y = j) read off the confident joint ``joint`` (C, C) (rows
    given, columns true; one sample added to every cell, Laplace's rule, so that an unseen pair is rare, not
    impossible) and the class-normalised probabilities q (N, C) (:func:`normalised_probs`) as P(y | x):
    T_{y~ y~} q_{y~} / sum_j T_{j y~} q_j. Under class-conditional noise (Northcutt et al. 2021, Sec. 2) a
    sample labelled k that looks like a class j from which no label k comes is more likely the model's
    mistake than a wrong label; the class-normalised margin cannot tell the two apart."""
    cj = np.asarray(joint, dtype=np.float64) + 1.0
    t = (cj / cj.sum(0, keepdims=True)).T  # t[j, k] = P(given k | true j)
    given = t[labels, labels] * q[np.arange(len(labels)), labels]
    return given / np.maximum((q * t[:, labels].T).sum(1), 1e-300)


@dataclass(frozen=True)
class ConfidenceMixture:
    """A two-component Gaussian mixture of the self-confidence logits log((1 - p_y) / p_y): the mean logit
    of the component the model believes more (``low_mean``) and of the other (``high_mean``), and the
    samples (``noisy``) whose posterior of the latter is above 1/2. Flipped labels form their own mode of
    low p_y, while the model's own mistakes on right labels spread between the modes; where wrong labels
    are few the second component takes a tail of clean samples and ``noisy`` runs high. ``point_mass``: a
    component sits on one value (its standard deviation under ``POINT_MASS_STD``), as where probabilities
    take a few discrete values (a k-NN vote, a forest) or are exactly 0 or 1: such a fit describes that
    value, not two modes of labels, and neither :attr:`ceiling` nor :attr:`most_doubted` reads it."""

    low_mean: float
    high_mean: float
    noisy: int
    point_mass: bool = False

    @property
    def ceiling(self) -> int | None:
        """``noisy`` where the means straddle even odds (logit 0), else None: a "clean" component that gives
        its labels less than even odds (most labels wrong, a weak model), or a "wrong" one that gives them
        more (clean data), does not split right labels from wrong ones."""
        return self.noisy if self.low_mean < 0.0 < self.high_mean and not self.point_mass else None

    @property
    def most_doubted(self) -> bool:
        """Both components give their labels less than even odds (a fit on a point mass says nothing)."""
        return self.low_mean > 0.0 and not self.point_mass


def confidence_mixture(labels: np.ndarray, probs: np.ndarray) -> ConfidenceMixture | None:
    """The :class:`ConfidenceMixture` of p_y = probs[i, labels[i]] clipped to [1e-12, 1 - 1e-12]: the
    mixture-model selection of both papers (TCL Sec. 3.2; Ciortan et al. Sec. 2.4), on K-fold
    probabilities. None where the logits do not vary (nothing to separate). labels: int (N,); probs: (N, C)."""
    from .mixture import fit_two_gaussians, low_component_posterior

    p_y = np.clip(probs[np.arange(len(labels)), labels], 1e-12, 1.0 - 1e-12)
    logits = np.log1p(-p_y) - np.log(p_y)
    if len(logits) < 2 or np.ptp(logits) == 0:
        return None
    gmm, low = fit_two_gaussians(logits)
    means = gmm.means_.ravel()
    point_mass = bool(np.sqrt(gmm.covariances_.ravel()).min() < POINT_MASS_STD)
    return ConfidenceMixture(float(means[low]), float(means[1 - low]),
                             int(np.sum(low_component_posterior(gmm, low, logits) < 0.5)), point_mass)


def agreed_probs(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """(N, C) float64: the row-normalised geometric mean sqrt(p q) of two models' probabilities p, q (N, C)
    of the same samples, confident only where both are. TCL's classifier learns from targets that mix the
    given label with its own prediction and grows confident where it is wrong (on weak colour photos its
    coat anchors had mean p 0.91 and were 49% coats); a probe trained on the given labels alone over the
    same features is not, so the anchors of their agreement are purer (docs/RESULTS.md, "TCL's anchors")."""
    g = np.sqrt(np.clip(np.asarray(p, dtype=np.float64), 0, None) * np.clip(np.asarray(q, dtype=np.float64), 0, None))
    s = g.sum(1, keepdims=True)
    return np.where(s > 0, g / np.where(s > 0, s, 1.0), 1.0 / g.shape[1])


def rank_lowest(quality: np.ndarray) -> np.ndarray:
    """Indices (N,) by ascending ``quality``, ties by index."""
    return np.lexsort((np.arange(len(quality)), np.asarray(quality)))


def disagreement_count(labels: np.ndarray, q: np.ndarray) -> int:
    """Samples whose class-normalised argmax is not the given label; q (N, C) from :func:`normalised_probs`."""
    return int(np.sum(q.argmax(1) != labels))


def confident_joint_count(labels: np.ndarray, probs: np.ndarray, joint: np.ndarray | None = None) -> float:
    """The calibrated confident joint's off-diagonal mass, in samples (``joint`` (C, C) where already
    computed by :func:`confident_joint`)."""
    cj = confident_joint(labels, probs) if joint is None else joint
    return float(cj.sum() - np.trace(cj))


def pair_separation_z(labels: np.ndarray, probs: np.ndarray, a: int, b: int) -> float:
    """One-sided z of the Mann-Whitney test that log p_b - log p_a ranks the samples labelled b above
    those labelled a (+inf where either class has no sample: nothing contradicts the model there)."""
    ia, ib = np.flatnonzero(labels == a), np.flatnonzero(labels == b)
    if len(ia) == 0 or len(ib) == 0:
        return float("inf")
    from scipy.stats import rankdata

    logp = np.log(np.clip(probs[np.concatenate([ia, ib])][:, [a, b]], 1e-300, None))
    ranks = rankdata(logp[:, 1] - logp[:, 0])
    na, nb = len(ia), len(ib)
    u = ranks[na:].sum() - nb * (nb + 1) / 2
    return float((u - na * nb / 2) / np.sqrt(na * nb * (na + nb + 1) / 12))


def unseparated_flags(labels: np.ndarray, probs: np.ndarray, flags: np.ndarray, suggested: np.ndarray) -> np.ndarray:
    """bool (N,): the flags whose (given, suggested) pair of classes the model does not separate
    (:func:`pair_separation_z` within +-``SEPARATION_Z``: the model ranks the two labels' samples alike; a
    pair it ranks the wrong way round, as where most of both labels are wrong, is separated)."""
    out = np.zeros(len(labels), dtype=bool)
    for a, b in {(int(g), int(s)) for g, s in zip(labels[flags], suggested[flags])}:
        if abs(pair_separation_z(labels, probs, a, b)) < SEPARATION_Z:
            out |= flags & (labels == a) & (suggested == b)
    return out


@dataclass(frozen=True)
class CountEvidence:
    """What the flag count rests on, and whether the inputs can support it.

    provenance: one of PROVENANCES; estimates: {name: wrong labels estimated} (out-of-sample:
    "confident_joint" and "disagreement"; in-sample: "anchor"); agreement: share of the given labels
    that are the model's argmax; unseparated: flags dropped because the model does not separate their
    pair of classes; unsure: the classes whose anchors the model is unsure of (in-sample; their line is
    added by :meth:`all_warnings`); ceiling: the out-of-sample flags' ceiling, :attr:`ConfidenceMixture.ceiling`
    (None in-sample, or where the mixture has nothing to separate); claims_pooled: the out-of-sample count
    is the pairs' distinct claims (:func:`pair_claimed_counts`), not the shares themselves (True in-sample);
    warnings: one line each where the count cannot be trusted (a model that fit its labels in-sample,
    estimates more than ``UNCERTAIN_RATIO`` apart, out-of-sample self-confidences that give most labels
    less than even odds (:attr:`ConfidenceMixture.most_doubted`), a model whose disagreements with the given
    labels exceed the flags by ``WEAK_MODEL_ERRORS`` of all labels: its own mistakes, which no count tells
    from wrong labels; in-sample, also on held-out images, :meth:`with_held_out`). The ranking stands in
    every case."""

    provenance: str
    estimates: dict[str, float]
    agreement: float
    unseparated: int
    warnings: tuple[str, ...]
    unsure: tuple[int, ...] = ()
    ceiling: int | None = None
    claims_pooled: bool = True

    def all_warnings(self, class_names: list[str] | None = None) -> list[str]:
        """``warnings`` and, where the in-sample count guarded classes, the line naming them (by
        ``class_names`` where given, else by index)."""
        if not self.unsure:
            return list(self.warnings)
        names = ", ".join(repr(class_names[k]) if class_names else str(k) for k in self.unsure)
        return [f"the model is unsure even of its best examples of class(es) {names}: it is too weak to be sure "
                "which of their labels are wrong; their counts take the other classes' noise rate and the ranking "
                "is a guide", *self.warnings]

    def with_held_out(self, accuracy: float | None, flagged: float) -> CountEvidence:
        """This evidence with :func:`held_out_weak_line` added where it applies (in-sample only): ``accuracy``
        the final model's accuracy on held-out images (None where the run has none), ``flagged`` the share of
        the training labels flagged."""
        line = held_out_weak_line(self.agreement, accuracy, flagged) if self.provenance == "in-sample" else None
        return self if line is None or line in self.warnings else replace(self, warnings=(*self.warnings, line))

    def as_dict(self, class_names: list[str] | None = None) -> dict[str, Any]:
        """JSON-ready summary entries (warnings naming classes by ``class_names`` where given)."""
        warnings = self.all_warnings(class_names)
        return {"probabilities": self.provenance, "count_estimates": dict(self.estimates),
                "model_agreement": self.agreement, "flags_dropped_unseparated": self.unseparated,
                "count_ceiling": self.ceiling, "count_claims_pooled": self.claims_pooled,
                "unsure_classes": list(self.unsure), "count_uncertain": bool(warnings), "count_warnings": warnings}


def count_warnings(provenance: str, estimates: dict[str, float], agreement: float, flagged: float,
                   n: int, *, most_doubted: bool = False) -> tuple[str, ...]:
    """The :class:`CountEvidence` warnings for N samples of which the share ``flagged`` is flagged (the
    unsure classes' line is added by :meth:`CountEvidence.all_warnings`, which knows their names);
    ``most_doubted``: the out-of-sample self-confidences hold no mode of labels the model believes
    (:attr:`ConfidenceMixture.most_doubted`)."""
    out = []
    if most_doubted:
        out.append("the model gives most labels less than even odds: most labels are wrong or the model is too weak "
                   "to judge them; the ranking is a guide, the count a guess")
    if provenance == "in-sample" and agreement >= MEMORISED_AGREEMENT:
        out.append(f"the model predicts {agreement:.1%} of its own training labels: in-sample probabilities of a "
                   "model that fit its labels hide wrong labels; the count is a lower bound (use out-of-sample "
                   "probabilities, e.g. cross-validated, or fewer epochs)")
    if provenance == "out-of-sample":
        lo, hi = min(estimates.values()), max(estimates.values())
        if hi > UNCERTAIN_RATIO * max(lo, 1.0):
            out.append(f"the count is uncertain: the estimates range from {lo / n:.1%} to {hi / n:.1%} of the "
                       "labels (the geometric mean is flagged)")
    weak = _too_weak_line(agreement, flagged, "of the given labels")
    return tuple(out) if weak is None else (*out, weak)


def _too_weak_line(accuracy: float, flagged: float, of_what: str) -> str | None:
    """The "too weak" line where the model is wrong on more than ``WEAK_MODEL_ERRORS`` of the samples beyond
    the share ``flagged`` (it predicts only ``accuracy`` of them, ``of_what`` says which), else None."""
    if 1.0 - accuracy - flagged <= WEAK_MODEL_ERRORS:
        return None
    return (f"the model predicts only {accuracy:.1%} {of_what} and {flagged:.1%} are flagged: the rest are its own "
            "mistakes, so it is too weak to be sure which labels are wrong; the ranking is a guide, the count a guess")


def held_out_weak_line(agreement: float, accuracy: float | None, flagged: float) -> str | None:
    """The "too weak" line of :func:`count_warnings` judged on held-out images: where the model's accuracy
    on them (``accuracy``, against their given labels) leaves more than ``WEAK_MODEL_ERRORS`` of the
    samples wrong beyond the share ``flagged``, and its in-sample ``agreement`` did not already say so. A
    model that fit part of its training labels agrees with them more than it predicts new images, and its
    in-sample anchors agree with the labels it fit: on 245 colour photos of two classes (held-out accuracy
    67-69%) the in-sample count flagged 0-27% of the wrong labels with no line. None where ``accuracy`` is
    None or not finite, or not below ``agreement``."""
    if accuracy is None or not np.isfinite(accuracy) or accuracy >= agreement:
        return None
    if _too_weak_line(agreement, flagged, "") is not None:  # the in-sample line has said it
        return None
    return _too_weak_line(accuracy, flagged, f"of held-out images ({agreement:.1%} of its training labels)")


def flag_lowest(labels: np.ndarray, quality: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """bool (N,): in each given class c, the counts[c] samples of lowest quality (ties by index)."""
    flags = np.zeros(len(labels), dtype=bool)
    for c, k in enumerate(counts):
        idx = np.flatnonzero(labels == c)
        if k > 0 and len(idx):
            order = idx[np.lexsort((idx, quality[idx]))]
            flags[order[:min(int(k), len(idx))]] = True
    return flags


def label_quality(labels: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """(N,) in [0, 1], higher = more likely right: the mean of q_{i, y~_i} and the class-normalised
    margin (1 + q_{i, y~_i} - max_{j != y~_i} q_ij) / 2, q from :func:`normalised_probs` (step 3 of the
    module docstring). labels: int (N,); probs: (N, C) rows summing to 1."""
    labels = np.asarray(labels, dtype=np.int64)
    return _quality(labels, normalised_probs(labels, np.asarray(probs, dtype=np.float64)))


def other_classes(labels: np.ndarray, q: np.ndarray) -> np.ndarray:
    """(N, C) a copy of q (N, C) with each row's given class ``labels`` (N,) set to -1: its max is the best
    other class's q, its argmax that class (a flagged row's suggestion)."""
    others = np.array(q, dtype=np.float64, copy=True)
    others[np.arange(len(labels)), labels] = -1.0
    return others


def _quality(labels: np.ndarray, q: np.ndarray) -> np.ndarray:
    """:func:`label_quality` from the normalised probabilities q (N, C)."""
    q_y = q[np.arange(len(labels)), labels]
    return (q_y + (1.0 + q_y - other_classes(labels, q).max(1)) / 2) / 2


@dataclass
class LabelIssues:
    """The detector's verdict on N training labels.

    quality: (N,) float in [0, 1], higher = more likely right; flags: (N,) bool; suggested: (N,) int
    suggested label (never the given one on a flagged row); suggested_prob: (N,) its normalised
    probability; per_class_issues: (C,) samples flagged per given class; detector: its name;
    evidence: what the count rests on (None where a method brings its own flags).
    """

    quality: np.ndarray
    flags: np.ndarray
    suggested: np.ndarray
    suggested_prob: np.ndarray
    per_class_issues: np.ndarray
    detector: str
    evidence: CountEvidence | None = None


def find_issues(labels: np.ndarray, probs: np.ndarray, *, provenance: str, quality: np.ndarray | None = None,
                flags: np.ndarray | None = None, detector: str = "confident-learning",
                count_probs: np.ndarray | None = None) -> LabelIssues:
    """Confident learning on ``probs`` (N, C), ranked and counted as ``provenance`` (one of PROVENANCES)
    says: in-sample by :func:`label_quality` (step 3 of the module docstring), out-of-sample by the
    self-confidence p_{i, y~_i} (cleanlab's default score; on held-out predictions the class-normalised
    quality ranked no better, docs/RESULTS.md "Label issues on data nobody here made"); counted by step 4
    (out-of-sample, each class's flags are its samples of lowest :func:`given_label_posterior`).
    ``quality`` (N,) and ``flags`` (N,) bool replace the ranking and the flags where a method brings its
    own (cleanlab's, for cleanlab-retrain). ``count_probs`` (N, C), in-sample only: the probabilities whose
    anchors count the flags (and name the unsure classes) in place of ``probs`` (:func:`agreed_probs`);
    the ranking, suggestions and agreement stay on ``probs``."""
    if provenance not in PROVENANCES:
        raise ValueError(f"provenance must be one of {PROVENANCES}, got {provenance!r}")
    if count_probs is not None and (provenance != "in-sample" or np.shape(count_probs) != np.shape(probs)):
        raise ValueError(f"count_probs must be in-sample and shaped like probs {np.shape(probs)}, got "
                         f"{provenance} {np.shape(count_probs)}")
    labels = np.asarray(labels, dtype=np.int64)
    probs = np.asarray(probs, dtype=np.float64)
    n, c = probs.shape
    q = normalised_probs(labels, probs)
    ar = np.arange(n)
    others = other_classes(labels, q)
    if quality is not None:
        score = np.asarray(quality, dtype=np.float64)
    else:
        score = _quality(labels, q) if provenance == "in-sample" else probs[ar, labels]
    evidence = None
    if flags is None:
        agreement = float(np.mean(probs.argmax(1) == labels))
        unsure: tuple[int, ...] = ()
        ceiling, most_doubted, pooled = None, False, True
        if provenance == "out-of-sample":
            joint = confident_joint(labels, probs)
            estimates = {"confident_joint": confident_joint_count(labels, probs, joint),
                         "disagreement": float(disagreement_count(labels, q))}
            shares = joint_shares(joint, np.sqrt(np.prod(list(estimates.values()))))
            posterior = given_label_posterior(labels, q, joint)
            mixture = confidence_mixture(labels, probs)
            ceiling = None if mixture is None else mixture.ceiling
            most_doubted = mixture is not None and mixture.most_doubted
            pooled = not (most_doubted and shares.sum() > MOST_WRONG_SHARE * n)
            per_class = pair_claimed_counts(labels, probs, shares, joint) if pooled else shares
            flags = flag_lowest(labels, posterior, np.minimum(per_class, doubted_counts(labels, probs)))
            if ceiling is not None and flags.sum() > ceiling:  # keep the ceiling's least likely right
                flagged = np.flatnonzero(flags)
                flags[flagged[rank_lowest(posterior[flagged])[ceiling:]]] = False
        else:
            cp = probs if count_probs is None else np.asarray(count_probs, dtype=np.float64)
            anchor, unsure_idx = _anchor_counts(labels, cp, ANCHOR_SHARE)  # one pass over the anchors
            estimates = {"anchor": float(anchor.sum())}
            flags = flag_lowest(labels, score, flag_counts(labels, cp, score, anchor))
            unsure = tuple(int(k) for k in unsure_idx)
        dropped = unseparated_flags(labels, probs, flags, others.argmax(1))
        flags = flags & ~dropped
        evidence = CountEvidence(provenance, estimates, agreement, int(dropped.sum()),
                                 count_warnings(provenance, estimates, agreement, float(flags.mean()), n,
                                                most_doubted=most_doubted), unsure,
                                 ceiling, pooled)
    else:
        flags = np.asarray(flags, dtype=bool)
    counts = np.bincount(labels[flags], minlength=c).astype(np.int64)
    suggested = np.where(flags, others.argmax(1), q.argmax(1))
    return LabelIssues(score, flags, suggested, q[ar, suggested], counts, detector, evidence)


def class_summary(labels: np.ndarray, issues: LabelIssues, class_names: list[str] | None = None,
                  top: int = 10) -> dict[str, Any]:
    """Per given class: samples, flagged and estimated noise rate; the ``top`` most frequent
    (given -> suggested) pairs among the flagged rows, with counts. JSON-ready."""
    c = len(issues.per_class_issues)
    name = (lambda k: class_names[k]) if class_names else str
    sizes = np.bincount(labels, minlength=c)
    flagged = np.bincount(labels[issues.flags], minlength=c)
    classes = [{"class": int(k), "name": name(k), "samples": int(sizes[k]), "flagged": int(flagged[k]),
                "noise_rate_estimated": float(flagged[k] / max(1, sizes[k]))} for k in range(c)]
    pairs = np.zeros((c, c), dtype=np.int64)
    np.add.at(pairs, (labels[issues.flags], issues.suggested[issues.flags]), 1)
    order = np.argsort(-pairs, axis=None, kind="stable")[:top]
    confused = [{"given": int(g), "suggested": int(s), "given_name": name(g), "suggested_name": name(s),
                 "count": int(pairs[g, s])} for g, s in zip(*np.unravel_index(order, pairs.shape)) if pairs[g, s] > 0]
    return {"per_class": classes, "confused_pairs": confused}
