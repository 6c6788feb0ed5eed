"""Onset scoring used by the sync figures: one-to-one, within tolerance, signed errors."""

from melfoley.core.onsets import f1_score, match_onsets


def test_one_prediction_serves_one_truth_and_far_ones_are_false_positives():
    errs, tp, fp, fn = match_onsets([0.51, 0.52, 2.0], [0.5, 1.0])
    assert tp == 1 and fp == 2 and fn == 1
    assert abs(errs[0] - 0.01) < 1e-9  # the nearest one, signed pred - true
    assert f1_score(tp, fp, fn) == 2 / 5
    assert match_onsets([], [1.0]) == ([], 0, 0, 1)
    errs, tp, fp, fn = match_onsets([0.97, 1.04], [1.0, 1.02])
    assert tp == 2 and fp == 0 and fn == 0
