"""The embedded engine end to end with the shipped weights (real vocoder, real procedural video)."""

from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

from melfoley.core import qcd
from melfoley.core.engine import FoleyRequest, get_engine
from melfoley.core.engines.embedded import (VOCODER_MARGIN, EmbeddedEngine, audible_spans, contact_gate,
                                            default_weights_dir)
from melfoley.core.motion import CALIBRATION
from melfoley.core.errors import WeightsError
from melfoley.core.mel import log_mel

SR = 22050


@pytest.fixture(scope="module")
def product():
    """The default engine: shipped renderer, exemplar detail, fast Griffin-Lim."""
    return get_engine("embedded")


@pytest.fixture(scope="module")
def engine():
    """The Griffin-Lim vocoder path (the default's), built with its option named."""
    return get_engine("embedded", vocoder="griffinlim")


def _still(seconds, fps=25.0):
    return np.full((max(1, int(seconds * fps)), 48, 64, 3), 90, np.uint8)


@lru_cache(maxsize=1)
def _drops():
    """3 s of procedural picture (objects dropping onto a floor), decoded once: (frames, contact times)."""
    import tempfile

    from melfoley.core.synthvideo import render_impact_video
    from melfoley.core.video import read_frames

    path = Path(tempfile.mkdtemp(prefix="melfoley-test-")) / "drops.mp4"
    truth = render_impact_video(path, kind="drop", duration=3.0, seed=5, size=(160, 120))
    return read_frames(path, 0.0, 3.0, size=96).frames, np.asarray(truth)


def _req(seconds, prompt="footsteps on gravel", **kw):
    """A request over the drops picture (contacts in it: an impulsive event sounds there)."""
    frames = _drops()[0][: max(1, int(round(seconds * 25)))]
    return FoleyRequest(None, 0.0, seconds, prompt, frames=frames, frame_rate=25.0, **kw)


def _energy(y):
    return qcd.decompose(log_mel(y, "hifigan22k"), "hifigan22k")[0].numpy()


def test_engine_is_resident_and_describes_itself(product):
    assert get_engine("embedded") is product
    d = product.describe()
    assert d["engine"] == "embedded" and len(d["weights_sha256"]) == 64
    assert d["bandwidth_hz"] == 8000.0 and d["nyquist_hz"] == 11025.0 and "CC-BY-SA" in d["licence"]


def test_the_vocoder_is_griffin_lim_and_auto_keeps_the_hifigan_for_contacts(product):
    """The default vocoder is fast Griffin-Lim for every event; "auto" sends contacts through the
    HiFi-GAN; every take says which one made it."""
    assert product.vocoder_name == "griffinlim"
    prompts = ("wind blowing", "fire crackling", "footsteps on gravel", "door slams")
    assert {product.vocoder_for(p) for p in prompts} == {"griffinlim"}
    (steps,) = product.generate([_req(1.5)])[0]
    assert steps.metadata["vocoder"].startswith("Griffin-Lim")
    auto = EmbeddedEngine(vocoder="auto")
    assert [auto.vocoder_for(p) for p in prompts] == ["griffinlim", "griffinlim", "hifigan", "hifigan"]
    (wind,), (steps,) = auto.generate([_req(1.5, "wind blowing"), _req(1.5)])
    assert wind.metadata["vocoder"].startswith("Griffin-Lim") and "HiFi-GAN" in steps.metadata["vocoder"]
    assert "per event" in auto.describe()["vocoder"]
    with pytest.raises(WeightsError, match="'auto', 'hifigan', 'griffinlim'"):
        EmbeddedEngine(vocoder="wavenet")


def test_a_griffin_lim_take_starts_with_sound_not_a_zero_run(engine):
    """A texture sounds from its first sample: the reconstruction starts half a hop into an extra frame.
    It used to open on 128 zeros and jump in at 5.8 ms, a click right after the stem's 5 ms fade."""
    clicks = pytest.importorskip("melfoley.core.clicks")
    from melfoley.core.levels import edge_fades

    (t,) = engine.generate([_req(2.0, "machinery humming", seed=1)])[0]
    y = t.audio
    assert np.abs(y[:128]).max() > 0.1 * np.abs(y[128:2048]).max()
    assert clicks.find_clicks(edge_fades(y, SR), SR) == []


def test_audible_spans():
    keep = np.zeros(200, bool)
    keep[[10, 11, 12, 40, 150]] = True
    assert audible_spans(keep, 5) == [(5, 18), (35, 46), (145, 156)]
    assert audible_spans(keep, 15) == [(0, 56), (135, 166)]  # 12 -> 40 is closer than twice the margin
    assert audible_spans(np.zeros(9, bool), 4) == [] and audible_spans(np.ones(9, bool), 4) == [(0, 9)]


def test_hifigan_vocodes_only_what_the_gates_keep(two_hits):
    """Between contacts the HiFi-GAN is not run: those samples are 0, the kept ones as if it ran on all
    (in float32; bfloat16's own rounding moves with the input length, about -45 dB under the peak)."""
    frames, _ = two_hits
    product = EmbeddedEngine(vocoder_dtype="float32")
    req = FoleyRequest(None, 0.0, 3.0, "tool impact", frames=frames, frame_rate=25.0)
    control = product.predict(req)
    logmel = product.render_mels([control], [req.prompt], [0])
    keep = product._audible(control.energy, True)
    spans = audible_spans(keep, VOCODER_MARGIN)
    assert 0.1 < keep.mean() < 0.9 and len(spans) >= 1
    full = product.vocode(logmel, [0], None, "hifigan")[0]
    part = product.vocode(logmel, [0], [keep], "hifigan")[0]
    hop = 256
    inside = np.zeros(part.shape[0], bool)
    for a, b in spans:
        inside[a * hop: b * hop] = True
    assert np.all(part[~inside] == 0.0) and np.abs(full[~inside]).max() > 0  # not run there, though it would sound
    gate = lambda y: contact_gate(y, control.energy, hop, CALIBRATION.floor_e)  # noqa: E731
    np.testing.assert_allclose(gate(part), gate(full), atol=1e-4 * np.abs(full).max())


def test_same_seed_same_take_different_seed_different_take(product):
    a, b = product.generate([_req(1.5, takes=2, seed=11)])[0]
    a2, _ = product.generate([_req(1.5, takes=2, seed=11)])[0]
    (c,) = product.generate([_req(1.5, seed=11)])[0]
    np.testing.assert_array_equal(a.audio, a2.audio)  # the same request: bit-identical
    np.testing.assert_allclose(a.audio, c.audio, atol=1e-4)  # batched with another take: float rounding only
    assert a.control == c.control
    assert not np.allclose(a.audio, b.audio)
    assert (a.seed, b.seed) == (11, 12)
    assert np.all(np.isfinite(a.audio)) and np.max(np.abs(a.audio)) <= 1.0


def test_energy_edit_moves_output_and_silence_stays_silent(engine):
    n = engine.predict(_req(3.0)).frames
    curve = np.full(n, 0.3, np.float32)
    curve[: n // 4] = 0.0
    doubled = curve.copy()
    region = slice(n // 2, 3 * n // 4)
    doubled[region] *= 2.0
    (base,) = engine.generate([_req(3.0, energy=curve)])[0]
    (edit,) = engine.generate([_req(3.0, energy=doubled)])[0]
    eb, ee = _energy(base.audio), _energy(edit.audio)
    inner = slice(region.start + 4, region.stop - 4)
    assert ee[inner].mean() > eb[inner].mean() + 0.1
    assert np.abs(edit.control.energy[region] - 0.6).max() < 1e-6  # the control carries the edit
    silent = base.audio[: (n // 4 - 1) * 256]
    assert np.max(np.abs(silent)) == 0.0  # the drawn silence is digital silence


@pytest.mark.parametrize("seconds", [0.2, 0.05])
def test_short_clips_exact_length(engine, seconds):
    (t,) = engine.generate([_req(seconds)])[0]
    assert t.audio.shape == (int(round(seconds * SR)),) and t.sample_rate == SR


def test_five_minute_clip_exact_length():
    engine = get_engine("embedded", vocoder="griffinlim", gl_iters=4)  # a cheap vocoder pass: length is the point
    seconds = 300.0
    req = FoleyRequest(None, 0.0, seconds, "rain", frames=_still(2.0, fps=1 / 150), frame_rate=1 / 150,
                       energy=np.full(64, 0.45, np.float32))
    (t,) = engine.generate([req])[0]
    assert t.audio.shape == (int(seconds * SR),)
    e = _energy(t.audio)
    assert e[-20:].mean() > 0.3 and e[5:-5].min() > 0.2  # sound all the way, no dropped window


def test_prompt_with_no_match_still_renders_and_reports_the_match(engine):
    (t,) = engine.generate([_req(1.0, prompt="asdkjh")])[0]
    m = t.metadata["match"]
    assert m["confident"] is False and len(m["events"]) == 3
    assert np.sqrt(np.mean(t.audio**2)) > 1e-4
    (g,) = engine.generate([_req(1.0, prompt="boots crunching on gravel")])[0]
    assert g.metadata["match"]["events"][0]["label"] == "footsteps_gravel" and g.metadata["match"]["confident"]


def test_batch_of_clips_matches_clips_rendered_alone(engine):
    reqs = [_req(0.7, prompt="rain", seed=1), _req(2.0, prompt="door slams", seed=2, takes=2)]
    together = engine.generate(reqs)
    alone = [engine.generate([r])[0] for r in reqs]
    assert [len(x) for x in together] == [1, 2]
    for ts, us in zip(together, alone):
        for t, u in zip(ts, us):
            assert t.audio.shape == u.audio.shape
            np.testing.assert_allclose(t.audio, u.audio, atol=1e-5)


def test_impacts_in_a_procedural_video_become_onsets(tmp_path, engine):
    from melfoley.core.synthvideo import render_impact_video

    path = tmp_path / "drop.mp4"
    true = np.asarray(render_impact_video(path, kind="drop", duration=3.0, seed=5))
    (t,) = engine.generate([FoleyRequest(path, 0.0, 3.0, "tool impact")])[0]
    e = _energy(t.audio)
    rate = SR / 256
    for s in true:  # each contact: the sound rises right there (within 3 frames, ~35 ms)
        f = int(s * rate)
        assert e[f : f + 3].max() - e[max(0, f - 8) : f - 2].min() > 0.1


def test_missing_weights_message_names_path_and_command(tmp_path):
    with pytest.raises(WeightsError) as info:
        EmbeddedEngine(tmp_path / "empty")
    msg = str(info.value)
    assert str(tmp_path / "empty") in msg and "melfoley train" in msg
    assert default_weights_dir().name == "embedded"


# ---------------------------------------------------------------------------- the product path (issue 10)
def _rms_db(y):
    return 20 * np.log10(np.sqrt(np.mean(np.asarray(y, np.float64) ** 2)) + 1e-12)


def _frame_rms_db(y, sr=SR, win=0.05):
    k = int(win * sr)
    n = len(y) // k
    return 20 * np.log10(np.sqrt(np.mean(np.asarray(y[: n * k], np.float64).reshape(n, k) ** 2, axis=1)) + 1e-12)


@pytest.fixture(scope="module")
def two_hits(tmp_path_factory):
    from melfoley.core.synthvideo import render_impact_video
    from melfoley.core.video import read_frames

    path = tmp_path_factory.mktemp("hits") / "two.mp4"
    truth = render_impact_video(path, kind="drop", duration=3.0, impacts=[0.6, 2.2], seed=2, size=(160, 120))
    return read_frames(path, 0.0, 3.0, size=96).frames, truth


def test_silence_between_two_hits(engine, two_hits):
    frames, (a, b) = two_hits
    (t,) = engine.generate([FoleyRequest(None, 0.0, 3.0, "tool impact", frames=frames, frame_rate=25.0)])[0]
    y = t.audio
    assert np.max(np.abs(y[: int((a - 0.05) * SR)])) == 0.0  # nothing has touched yet: digital silence
    assert _rms_db(y[int((a + 0.6) * SR): int((b - 0.05) * SR)]) <= -70.0  # between the hits
    for s in (a, b):  # and each hit is there
        assert _rms_db(y[int(s * SR): int((s + 0.15) * SR)]) > -40.0


def test_room_tone_is_an_option(two_hits):
    frames, (a, _) = two_hits
    eng = get_engine("embedded", vocoder="griffinlim", room_tone="true")
    (t,) = eng.generate([FoleyRequest(None, 0.0, 3.0, "tool impact", frames=frames, frame_rate=25.0)])[0]
    assert -75.0 < _rms_db(t.audio[: int((a - 0.05) * SR)]) < -25.0 and t.metadata["room_tone"] is True


def test_continuous_event_stays_continuous_under_an_impulsive_picture(engine, two_hits):
    frames, _ = two_hits
    (t,) = engine.generate([FoleyRequest(None, 0.0, 3.0, "rain", frames=frames, frame_rate=25.0)])[0]
    level = _frame_rms_db(t.audio)[2:-2]
    assert level.min() > -45.0  # a bed all along, not silence between the contacts
    assert level.max() - np.median(level) < 12.0  # and no thumps at them


def test_no_clicks_at_window_joins_gate_and_segment_joins(two_hits):
    clicks = pytest.importorskip("melfoley.core.clicks")
    from melfoley.plugin.picture import join_audio

    eng = get_engine("embedded", vocoder="griffinlim", gl_iters=8)
    seconds = 12.0  # two renderer windows, crossfaded
    frames, _ = two_hits
    long = np.concatenate([frames] * 4)[: int(seconds * 25)]
    (rain,) = eng.generate([FoleyRequest(None, 0.0, seconds, "rain", frames=long, frame_rate=25.0)])[0]
    (hits,) = eng.generate([FoleyRequest(None, 0.0, 3.0, "tool impact", frames=frames, frame_rate=25.0)])[0]
    joined = join_audio([hits.audio, rain.audio[: 3 * SR]])  # a prompt-segment join
    for y in (rain.audio, hits.audio, joined):
        assert clicks.find_clicks(y, SR) == []
    step = 1.5  # between the hits, where the gate holds silence
    spliced = hits.audio.copy()
    spliced[int(step * SR):] += 0.02  # a gate that opens with a jump, on purpose: the detector sees it
    assert any(abs(c - step) < 0.01 for c in clicks.find_clicks(spliced, SR))


def test_a_prompt_change_changes_the_class_an_independent_embedding_assigns(engine):
    """Same picture, three prompts: aisfx (not trained on this corpus) assigns each stem its prompt's
    class among centroids of held-out val recordings (first 6 s of 3 per class). The Griffin-Lim
    path: the same exemplars, renderer and gate as the product, a cheaper vocoder."""
    import soundfile as sf

    from melfoley.core.corpus import corpus_root, load_manifest
    from melfoley.core.metrics import AisfxEmbedder, centroids, nearest_centroid

    classes = {"footsteps on gravel": "footsteps_gravel", "fire crackling": "fire", "birds chirping": "bird"}
    if not (corpus_root() / "manifest.csv").exists():
        pytest.skip(f"corpus not available at {corpus_root()}")
    val = [it for it in load_manifest() if it.split == "val" and it.label in classes.values()]
    val = [it for lab in classes.values() for it in [v for v in val if v.label == lab][:3]]
    emb = AisfxEmbedder()
    vecs = []
    for it in val:
        y, sr = sf.read(str(it.path), dtype="float32", always_2d=True)
        vecs.append(emb.embed(y.mean(1)[: 6 * sr], sr))
    cents = centroids(np.stack(vecs), [it.label for it in val])
    frames = _drops()[0]
    got = {}
    for prompt in classes:
        (t,) = engine.generate([FoleyRequest(None, 0.0, 3.0, prompt, frames=frames, frame_rate=25.0)])[0]
        got[prompt] = nearest_centroid(emb.embed(t.audio, SR, active_only=True)[None], cents)[0]
    assert got == classes


def test_frames_from_an_exemplar_keep_its_detail_riding_on_the_controls_energy(two_hits):
    """detail="exemplar" (default): where the control was taken from an exemplar, the mel is the
    control's recomposition plus that exemplar's stored detail (so an energy edit moves it with E);
    detail="renderer": the renderer's residual there instead. Frames off any exemplar: the renderer's."""
    frames, _ = two_hits
    eng = get_engine("embedded", vocoder="griffinlim")
    req = FoleyRequest(None, 0.0, 3.0, "glass breaking", frames=frames, frame_rate=25.0)
    control, (det, has) = eng.predict_with_detail(req)
    assert 0.05 < has.mean() < 0.9 and eng.describe()["detail"] == "exemplar"
    unit = lambda lm: (lm - eng_cfg.img_lo) / (eng_cfg.img_hi - eng_cfg.img_lo)  # noqa: E731
    from melfoley.core.mel import get_mel_config

    eng_cfg = get_mel_config("hifigan22k")
    with_detail = unit(eng.render_mels([control], [req.prompt], [0], [(det, has)])[0].numpy())
    renderer = unit(eng.render_mels([control], [req.prompt], [0])[0].numpy())
    want = np.clip(control.recomposed_mel() + det, 0, 1)
    np.testing.assert_allclose(with_detail[:, has], want[:, has], atol=1e-5)
    np.testing.assert_allclose(with_detail[:, ~has], renderer[:, ~has], atol=1e-6)
    assert np.abs(with_detail[:, has] - renderer[:, has]).mean() > 0.01
    louder = control.with_energy(np.where(has, control.energy + 0.05, control.energy).astype(np.float32))
    moved = unit(eng.render_mels([louder], [req.prompt], [0], [(det, has)])[0].numpy())
    inside = has & (control.energy + 0.05 < 0.9)
    assert abs(float(np.median(moved[:, inside] - with_detail[:, inside])) - 0.05) < 0.01
    plain = get_engine("embedded", vocoder="griffinlim", detail="renderer")
    assert plain.predict_with_detail(req)[1] is None and plain.describe()["detail"] == "renderer"


def test_a_bank_without_detail_says_how_to_rebuild_it(tmp_path):
    import shutil

    from melfoley.core.prior import ExemplarBank

    for f in default_weights_dir().iterdir():
        if f.is_file():
            shutil.copy(f, tmp_path / f.name)
    bank = ExemplarBank.load(tmp_path)
    bank.detail = None
    bank.save(tmp_path)
    with pytest.raises(WeightsError) as info:
        EmbeddedEngine(tmp_path)
    assert "melfoley train exemplars" in str(info.value) and "detail=renderer" in str(info.value)
    assert EmbeddedEngine(tmp_path, detail="renderer").describe()["detail"] == "renderer"


def test_the_first_frames_of_every_hit_keep_the_renderers_detail():
    from melfoley.core.engines.embedded import _without_attacks

    src = np.array([-1, -1, 10, 11, 12, 13, -1, 50, 51, 52, 80, 81, 82])
    det = np.ones((3, src.shape[0]), np.float32)
    out, keep = _without_attacks((det, src >= 0), src, 2)
    # three hits start at frames 2, 7 and 10 (a jump in the bank: another hit right after)
    np.testing.assert_array_equal(keep, [0, 0, 0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 1])
    assert np.all(out[:, ~keep] == 0) and np.all(out[:, keep] == 1) and np.all(det == 1)
    assert _without_attacks((det, src >= 0), src, 0)[1].sum() == 10
