"""`melfoley eval` on the corpus-built tiny dataset: the paper engine with tiny weights on CPU, the
debug engine, and the onset metrics against known onsets."""

from __future__ import annotations

import json

import numpy as np
import pytest

from melfoley.core.onset_metrics import energy_correlation, eval_onsets
from melfoley.plugin.cli import main
from paper_data import tiny_base, tiny_dataset

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _clicks(times, seconds=2.0, sr=16000, seed=0):
    rng = np.random.default_rng(seed)
    y = 0.001 * rng.standard_normal(int(seconds * sr)).astype(np.float32)
    for t in times:
        i = int(t * sr)
        y[i:i + 800] += (rng.standard_normal(800) * np.exp(-np.arange(800) / 120)).astype(np.float32)
    return y


def test_onset_metrics_on_known_onsets():
    truth = _clicks([0.3, 0.9, 1.5])
    assert eval_onsets(truth, _clicks([0.3, 0.9, 1.5], seed=1), 16000, 16000) == pytest.approx((1.0, 1.0))
    acc, ap = eval_onsets(truth, _clicks([0.3, 1.2], seed=2), 16000, 16000)  # one hit, two misses, a false alarm
    assert acc == pytest.approx(1 / 3) and 0 < ap < 1
    assert eval_onsets(truth, np.zeros(32000, np.float32), 16000, 16000) == (0.0, 0.0)
    assert energy_correlation(truth, _clicks([0.3, 0.9, 1.5], seed=3), 16000, 16000) > 0.9
    assert energy_correlation(truth, _clicks([0.6, 1.2, 1.8], seed=3), 16000, 16000) < 0.5


def test_eval_the_paper_engine_on_the_tiny_model(tmp_path_factory, corpus, tmp_path, capsys):
    ds = tiny_dataset(tmp_path_factory, corpus)
    weights = tiny_base(tmp_path_factory)
    out = tmp_path / "eval.json"
    assert main(["eval", str(ds), "--engine", "paper", "--weights", str(weights), "--engine-opt", "device=cpu",
                 "--engine-opt", "steps=2", "-o", str(out)]) == 0
    res = json.loads(out.read_text())
    f = res["figures"]
    assert f["clips"] == 2 and f["engine"] == "paper" and len(res["clips"]) == 2
    for k in ("onset_acc", "onset_ap", "v2x_code_accuracy_group0", "v2x_code_accuracy_group1"):
        assert 0.0 <= f[k] <= 1.0
    assert -1.0 <= f["energy_corr"] <= 1.0 and f["v2x_energy_mae"] >= 0 and np.isfinite(f["frechet_aisfx"])
    assert "class_accuracy" not in f  # the val clips' label has no train clip: left out, not guessed
    printed = capsys.readouterr().out
    assert "onset_acc" in printed and str(out) in printed


def test_eval_refuses_a_folder_without_a_dataset(tmp_path, capsys):
    assert main(["eval", str(tmp_path), "--engine", "debug"]) == 2
    assert "holds no dataset" in capsys.readouterr().err
