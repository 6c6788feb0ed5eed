"""V2X predictor (MELQCD_SPEC.md section 3): shapes, key-padding mask, loss, a tiny overfit."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from melfoley.core import qcd
from melfoley.core.control import QCDControl
from melfoley.core.paper.tiny import TINY_V2X
from melfoley.core.paper.v2x import V2XPredictor, focal_loss, v2x_loss


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _model(seed=0, **kw):
    torch.manual_seed(seed)
    return V2XPredictor(**{**TINY_V2X, **kw}).eval()


def test_full_size_architecture_matches_the_spec():
    m = V2XPredictor()  # defaults are the spec's sizes
    assert m.proj_in.in_features == 768 and m.proj_in.out_features == 512
    assert len(m.layers) == 6 and m.layers[0].attention.heads == 8
    assert m.layers[0].feed_forward[0].out_features == 2048
    assert [l.out_features for l in m.code_heads] == [81, 81]
    assert [l.out_features for l in m.ed_head if isinstance(l, torch.nn.Linear)] == [256, 128, 2]
    net = m.rel_pos_bias.net
    assert net[0][0].in_features == 1 and net[0][0].out_features == 256 and net[-1].out_features == 8
    assert m.layers[0].dropout1.p == pytest.approx(0.1)


def test_forward_shapes_and_control():
    m = _model()
    feats = torch.randn(2, 7, TINY_V2X["feature_dim"])
    out = m(feats)
    assert out.code_logits.shape == (2, 2, 28, 81)
    assert out.energy.shape == out.spread.shape == out.mask.shape == (2, 28)
    ctrl = m.predict(feats[0])
    assert isinstance(ctrl, QCDControl) and ctrl.frames == 28 and ctrl.mel == "auffusion16k"


def test_padding_does_not_change_valid_outputs():
    m = _model()
    torch.manual_seed(1)
    a = torch.randn(1, 5, TINY_V2X["feature_dim"])
    padded = torch.cat([a, 100 * torch.randn(1, 3, TINY_V2X["feature_dim"])], dim=1)
    mask = torch.tensor([[True] * 5 + [False] * 3])
    ref = m(a)
    got = m(padded, mask)
    assert got.mask.sum() == 20 and not got.mask[0, 20:].any()
    torch.testing.assert_close(got.code_logits[:, :, :20], ref.code_logits, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(got.energy[:, :20], ref.energy, atol=1e-4, rtol=1e-4)
    # without the mask the padding leaks in: the mask is doing the work
    leak = m(padded)
    assert not torch.allclose(leak.energy[:, :20], ref.energy, atol=1e-3)
    assert len(got.to_controls()) == 1 and got.to_controls()[0].frames == 20


def test_focal_loss_matches_cross_entropy_at_gamma_zero_and_ignores_masked():
    logits = torch.randn(3, 10, 81)
    target = torch.randint(0, 81, (3, 10))
    mask = torch.ones(3, 10, dtype=torch.bool)
    ce = torch.nn.functional.cross_entropy(logits.reshape(-1, 81), target.reshape(-1))
    torch.testing.assert_close(focal_loss(logits, target, mask, gamma=0.0), ce)
    assert focal_loss(logits, target, mask) < ce  # down-weights easy examples
    mask[:, 5:] = False
    bad = logits.clone()
    bad[:, 5:] = 1e3 * torch.randn_like(bad[:, 5:])
    torch.testing.assert_close(focal_loss(bad, target, mask), focal_loss(logits, target, mask))


def test_loss_decreases_on_a_tiny_overfit():
    torch.manual_seed(0)
    m = _model(dropout=0.0).train()
    feats = torch.randn(2, 6, TINY_V2X["feature_dim"])
    # a learnable target: codes, E and D computed from the features' first channels
    codes = (feats[..., :2].abs() * 20).long().clamp(0, 80).repeat_interleave(4, 1).permute(0, 2, 1)
    energy = torch.sigmoid(feats[..., 2]).repeat_interleave(4, 1)
    spread = torch.sigmoid(feats[..., 3]).repeat_interleave(4, 1) * 0.3
    opt = torch.optim.AdamW(m.parameters(), lr=3e-3, weight_decay=0.01)
    first = None
    for _ in range(60):
        parts = v2x_loss(m(feats), codes, energy, spread)
        opt.zero_grad()
        parts["loss"].backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
        first = first if first is not None else float(parts["loss"].detach())
    assert float(parts["loss"]) < 0.3 * first
    assert float(parts["accuracy"]) > 0.5
    assert set(parts) >= {"focal", "mse_e", "mse_d", "accuracy"}
    assert codes.max() < qcd.CODES_PER_GROUP


def test_save_and_load_round_trip(tmp_path):
    m = _model()
    m.save_pretrained(tmp_path / "v2x")
    back = V2XPredictor.from_pretrained(tmp_path / "v2x", local_files_only=True).eval()
    x = torch.randn(1, 4, TINY_V2X["feature_dim"])
    np.testing.assert_allclose(back(x).energy.detach().numpy(), m(x).energy.detach().numpy(), atol=1e-6)


def test_long_clips_are_predicted_in_windows():
    m = _model()
    torch.manual_seed(2)
    short = torch.randn(9, TINY_V2X["feature_dim"])
    direct = m(short.unsqueeze(0)).to_controls()[0]
    one = m.predict(short, window=10, overlap=2)  # fits one window: unchanged
    np.testing.assert_array_equal(one.codes, direct.codes)
    np.testing.assert_allclose(one.energy, direct.energy, atol=1e-6)
    long = torch.randn(23, TINY_V2X["feature_dim"])
    ctrl = m.predict(long, window=10, overlap=2)  # windows start at 0, 8, 13
    assert ctrl.frames == 92
    first = m(long[:10].unsqueeze(0)).to_controls()[0]
    last = m(long[13:].unsqueeze(0)).to_controls()[0]
    np.testing.assert_array_equal(ctrl.codes[:, :32], first.codes[:, :32])  # before any overlap
    np.testing.assert_array_equal(ctrl.codes[:, -20:], last.codes[:, -20:])
    np.testing.assert_allclose(ctrl.energy[:32], first.energy[:32], atol=1e-6)
