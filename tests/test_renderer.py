"""The mel renderer: tiny random components (shapes, seeds, silence, persistence) and the shipped weights."""

import numpy as np
import pytest
import torch

from melfoley.core.renderer import MelRenderer, RendererConfig, laplace_nll, seeded_noise

TINY = RendererConfig(n_events=3, event_dim=4, channels=8, dilations=(1, 2), labels=("a", "b", "c"))


def _inputs(T=50, B=2):
    g = torch.Generator().manual_seed(0)
    rec = torch.rand(B, 80, T, generator=g)
    e = torch.rand(B, T, generator=g) * 0.5 + 0.2
    d = torch.rand(B, T, generator=g) * 0.1
    w = torch.tensor([[1.0, 0, 0], [0.2, 0.3, 0.5]])[:B]
    return rec, e, d, w


def _tiny():
    torch.manual_seed(0)
    m = MelRenderer(TINY)
    for p in m.head.parameters():  # the head starts at zero; give it weights so noise shows
        torch.nn.init.normal_(p, std=0.05)
    return m.eval()


def test_shapes_and_residual_on_the_recomposed_map():
    m = MelRenderer(TINY).eval()
    rec, e, d, w = _inputs()
    mean, log_b = m(rec, e, d, w)
    assert mean.shape == log_b.shape == (2, 80, 50)
    torch.testing.assert_close(mean, rec)  # zero-initialised head: starts as the control itself


def test_same_seed_same_sample_other_seed_differs_zero_temperature_is_the_mean():
    m = _tiny()
    rec, e, d, w = _inputs()
    a = m.sample(rec, e, d, w, [1, 2])
    b = m.sample(rec, e, d, w, [1, 2])
    c = m.sample(rec, e, d, w, [3, 2])
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a[0], c[0]) and torch.allclose(a[1], c[1])
    m0 = m.sample(rec, e, d, w, [1, 2], temperature=0)
    torch.testing.assert_close(m0, m(rec, e, d, w)[0].clamp(0, 1))
    assert float(a.min()) >= 0 and float(a.max()) <= 1


def test_zero_energy_frames_render_the_floor():
    m = _tiny()
    rec, e, d, w = _inputs()
    e[:, 10:20] = 0
    out = m.sample(rec, e, d, w, [0, 1])
    assert float(out[:, :, 10:20].abs().max()) == 0.0


def test_save_load_roundtrip_and_missing_weights(tmp_path):
    from melfoley.core.errors import WeightsError

    m = _tiny()
    m.save(tmp_path)
    q = MelRenderer.load(tmp_path)
    assert q.config == m.config
    rec, e, d, w = _inputs()
    torch.testing.assert_close(q.sample(rec, e, d, w, [5, 6]), m.sample(rec, e, d, w, [5, 6]))
    with pytest.raises(WeightsError, match="melfoley train renderer"):
        MelRenderer.load(tmp_path / "missing")


def test_noise_and_loss_basics():
    n = seeded_noise((80, 1000), 7, 3)
    assert abs(float(n.std()) - 1.0) < 0.1
    torch.testing.assert_close(n, seeded_noise((80, 1000), 7, 3))
    y = torch.zeros(1, 2, 4)
    assert float(laplace_nll(y, torch.zeros_like(y), y)) == 0.0
    mask = torch.tensor([[1.0, 1, 0, 0]])
    far = torch.tensor([[[0, 0, 9.0, 9.0]] * 2])
    assert float(laplace_nll(y, torch.zeros_like(y), far, mask)) == 0.0


def test_shipped_renderer_beats_the_control_alone_on_held_out_recordings(corpus_items):
    """On real val recordings (never trained on), the renderer's distribution (mean + Laplace scale)
    explains the true mel better than the recomposed control with the best single scale."""
    from melfoley.core.audio import load_audio
    from melfoley.core.corpus import split
    from melfoley.core.engines.embedded import default_weights_dir
    from melfoley.core.mel import log_mel, to_unit
    from melfoley.core.train import control_inputs

    model = MelRenderer.load(default_weights_dir())
    labels = model.config.labels
    val = [it for it in split(corpus_items, "val") if it.duration > 0.5][::4][:14]
    err_rec, nll_ren, n = 0.0, 0.0, 0
    with torch.inference_mode():
        for it in val:
            u = to_unit(log_mel(load_audio(it.path, "hifigan22k"), "hifigan22k"), "hifigan22k").unsqueeze(0)
            rec, e, d = control_inputs(u)
            w = torch.nn.functional.one_hot(torch.tensor([labels.index(it.label)]), len(labels)).float()
            mean, log_b = model(rec, e, d, w)
            err_rec += float((rec - u).abs().sum())
            nll_ren += float(laplace_nll(mean, log_b, u)) * u.numel()
            n += u.numel()
    assert len(val) >= 10
    nll_control = np.log(err_rec / n) + 1.0  # Laplace NLL of the control with its best constant scale
    assert nll_ren / n < nll_control - 0.1
