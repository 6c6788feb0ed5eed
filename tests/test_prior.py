"""The semantic code prior: fitting, likelihood, seeded sampling along an energy path."""

import numpy as np
import pytest

from melfoley.core import qcd
from melfoley.core.engines.embedded import default_weights_dir
from melfoley.core.prior import CodePrior, PriorConfig


def _toy():
    """Two events: A cycles 10 -> 20 -> 30, B holds code 70; loud throughout."""
    rng = np.random.default_rng(0)
    seqs = []
    for _ in range(20):
        a = np.tile([10, 20, 30], 30)
        seqs.append((0, np.stack([a, a[::-1]]), np.full(a.shape[0], 0.5)))
        b = np.full(90, 70)
        b[rng.integers(0, 90, 5)] = 71
        seqs.append((1, np.stack([b, b]), np.full(90, 0.5)))
    return CodePrior.fit(seqs, PriorConfig(labels=("a", "b"), beta=5.0, mix_unigram=0.05))


def test_fit_learns_each_events_dynamics():
    p = _toy()
    e = np.full(60, 0.5)
    ca = p.sample(np.array([1.0, 0.0]), e, seed=0)
    cb = p.sample(np.array([0.0, 1.0]), e, seed=0)
    assert set(np.unique(ca[0])) <= {10, 20, 30, 70, 71} and np.mean(np.isin(ca[0], [10, 20, 30])) > 0.9
    trans = np.mean([(x, y) in {(10, 20), (20, 30), (30, 10)} for x, y in zip(ca[0, :-1], ca[0, 1:])])
    assert trans > 0.8
    assert np.mean(np.isin(cb, [70, 71])) > 0.9
    # each event's own sequences are the more likely under its own table
    seq = np.stack([np.tile([10, 20, 30], 10)] * 2)
    assert p.log_likelihood(0, seq, np.full(30, 0.5))[0] > p.log_likelihood(1, seq, np.full(30, 0.5))[0]


def test_sampling_is_seeded_and_silence_gets_the_silent_code():
    p = _toy()
    e = np.concatenate([np.zeros(10), np.full(50, 0.5)])
    w = np.array([0.5, 0.5])
    a, b, c = p.sample(w, e, 3), p.sample(w, e, 3), p.sample(w, e, 4)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (2, 60) and a.dtype == np.uint8
    assert np.all(a[:, :10] == qcd.SILENT_CODE)
    assert (a != c).any()
    assert p.sample(w, np.zeros(0), 0).shape == (2, 0)


def test_save_load_roundtrip(tmp_path):
    p = _toy()
    p.save(tmp_path)
    q = CodePrior.load(tmp_path)
    assert q.labels == ("a", "b") and q.config.beta == 5.0
    e = np.full(40, 0.5)
    np.testing.assert_array_equal(p.sample(np.array([1.0, 0.0]), e, 1), q.sample(np.array([1.0, 0.0]), e, 1))


def test_missing_prior_names_the_file_and_the_command(tmp_path):
    from melfoley.core.errors import WeightsError

    with pytest.raises(WeightsError, match="melfoley train prior"):
        CodePrior.load(tmp_path / "nowhere")


def test_shipped_prior_beats_uniform_and_event_blind_on_val():
    """The shipped prior's recorded model selection: event-aware bigram wins on the held-out split."""
    import json

    folder = default_weights_dir()
    cfg = json.loads((folder / "prior.json").read_text())
    assert cfg["val_nll"] < 0.5 * cfg["uniform_nll"]
    blind = min(v for (beta, m), v in cfg["search"] if beta >= 1e9)
    assert cfg["val_nll"] <= blind
    p = CodePrior.load(folder)
    assert len(p.labels) == 47
    # different events give different code statistics along the same loud path
    e = np.full(400, 0.55)
    w1 = np.zeros(47); w1[p.labels.index("footsteps_gravel")] = 1
    w2 = np.zeros(47); w2[p.labels.index("bird")] = 1
    h1 = np.bincount(p.sample(w1, e, 0)[0], minlength=81) / 400
    h2 = np.bincount(p.sample(w2, e, 0)[0], minlength=81) / 400
    assert 0.5 * np.abs(h1 - h2).sum() > 0.2
