"""The in-sample count checked against the model's held-out accuracy."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from noisylabels import held_out as ho
from noisylabels import labelquality as lq


def _rare_class_fit():
    """In-sample probabilities of a strong binary model: 900 "other" and 100 "bag" images, 30 bags labelled
    "other". The model is sure (0.98) of every image whose label it agrees with and predicts "bag" at 0.6-0.7
    for the mislabelled bags, so the "bag" anchors (its surest bags) are all labelled bag and the anchor
    count finds none of the 30."""
    rng = np.random.default_rng(0)
    true = np.repeat([0, 1], [900, 100])
    given = true.copy()
    given[900:930] = 0
    p_bag = np.where(true == 1, 0.98, 0.02)
    p_bag[900:930] = rng.uniform(0.6, 0.7, 30)
    return given, true, np.stack([1 - p_bag, p_bag], 1)


def test_disagreements_beyond_the_held_out_error_are_flagged():
    given, true, p = _rare_class_fit()
    issues = lq.find_issues(given, p, provenance="in-sample")
    assert issues.flags.sum() < 15  # the anchors miss most of them
    raised = ho.held_out_floor(given, p, issues, 0.99)
    wrong = given != true
    # class "other": 30 disagreements, ceil(0.01 * 930) = 10 of them the model's own: at least 20 flagged
    assert raised.flags.sum() >= 20 and np.all(raised.flags[issues.flags])
    assert np.all(wrong[raised.flags])
    np.testing.assert_array_equal(raised.per_class_issues, np.bincount(given[raised.flags], minlength=2))
    assert np.all(raised.suggested[raised.flags] != given[raised.flags])
    assert any("held-out error (1.0%)" in w for w in raised.evidence.warnings)
    assert raised.evidence.as_dict()["count_uncertain"]


def test_nothing_changes_where_the_held_out_error_explains_the_disagreements():
    given, _, p = _rare_class_fit()
    issues = lq.find_issues(given, p, provenance="in-sample")
    for accuracy in (None, float("nan"), 0.9, 0.5):
        assert ho.held_out_floor(given, p, issues, accuracy) is issues
    oos = lq.find_issues(given, p, provenance="out-of-sample")
    assert ho.held_out_floor(given, p, oos, 0.99) is oos  # out-of-sample counts are not in-sample fits


@given(agreement=st.floats(0, 1), accuracy=st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
       flagged=st.floats(0, 1))
@settings(max_examples=200, deadline=None)
def test_the_condition_never_fires_without_a_finite_accuracy_above_agreement_and_flags(agreement, accuracy, flagged):
    fires = ho.unexplained_disagreements(agreement, accuracy, flagged)
    assert fires == (accuracy is not None and np.isfinite(accuracy) and accuracy > agreement + flagged)


def test_the_exporter_writes_the_raised_flags(tmp_path):
    """train and detect --run export through issues.export_label_issues: the CSV, the summary's count and its
    warnings carry the raised flags."""
    import csv

    from noisylabels.issues import export_label_issues
    from noisylabels.runs import RunFolder

    given, true, p = _rare_class_fit()
    issues = lq.find_issues(given, p, provenance="in-sample")
    out = export_label_issues(RunFolder(tmp_path), issues, given, p, title="t", true_labels=true,
                              held_out_accuracy=0.99)
    rows = list(csv.DictReader((tmp_path / "label_issues.csv").open()))
    flagged = sum(r["is_label_issue"] == "True" for r in rows)
    assert flagged == out["num_label_issues"] >= 20
    assert any("held-out error" in w for w in out["count_warnings"])
