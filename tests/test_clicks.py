"""The click detector (melfoley.core.clicks) on real recordings and engine output.

Its thresholds were set on clicks inserted into corpus *train* recordings; these tests use
the *val* recordings, so they check it on sounds it was not tuned on.
"""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from melfoley.core.clicks import find_clicks
from melfoley.core.corpus import load_manifest, split

CLEAN = ("glass_break", "footsteps_gravel", "footsteps_wood", "tool_impact", "wood_break", "impact_metal",
         "water_flow", "rain")


@pytest.fixture(scope="module")
def val():
    return split(load_manifest(), "val")


def _read(path) -> tuple[np.ndarray, int]:
    y, sr = sf.read(str(path), dtype="float64")
    y = y if y.ndim == 1 else y.mean(1)
    k = min(int(0.005 * sr), y.shape[0] // 4)  # the recording's own cut edges are not what is tested
    y[:k] *= np.linspace(0, 1, k)
    y[-k:] *= np.linspace(1, 0, k)
    return y, sr


def _local_rms(y: np.ndarray, sr: int, p: int) -> float:
    h = int(0.005 * sr)
    return float(np.sqrt(np.mean(y[max(0, p - h):p + h] ** 2)))


def _positions(y: np.ndarray, sr: int, n: int = 3, room: float = 0.5 / 40) -> list[int]:
    """``n`` places spread over the recording where a click 40x (32 dB) over the local RMS fits under 0.5."""
    grid = np.linspace(0.1, 0.9, 41) * y.shape[0]
    ok = [int(p) for p in grid if _local_rms(y, sr, int(p)) <= room]
    return [ok[int(i)] for i in np.linspace(0, len(ok) - 1, n)] if len(ok) >= n else []


def _insert(y: np.ndarray, sr: int, positions, strength: float = 40.0) -> np.ndarray:
    """Impulses and decaying steps (alternating), ``strength`` x the local RMS (+-5 ms; at least 1e-3)."""
    z = y.copy()
    for k, p in enumerate(positions):
        a = strength * max(_local_rms(y, sr, p), 1e-3) * (1 if k % 2 else -1)
        if k % 2:
            z[p] += a
        else:
            z[p:] += a * np.exp(-np.arange(z.shape[0] - p) / (0.002 * sr))
    return z


def _found(got, times, tol=0.002) -> int:
    got = np.asarray(got)
    return sum(1 for t in times if got.size and np.min(np.abs(got - t)) <= tol)


def test_inserted_clicks_are_found_in_real_recordings(val):
    inserted = found = stray = 0
    for label in CLEAN:
        it = next(i for i in val if i.label == label and i.duration >= 0.3)
        y, sr = _read(it.path)
        pos = _positions(y, sr)
        got = find_clicks(_insert(y, sr, pos), sr)
        inserted += len(pos)
        found += _found(got, [p / sr for p in pos])
        stray += len(got) - _found([p / sr for p in pos], got)
    assert inserted >= 18
    assert found >= 0.9 * inserted, f"found {found} of {inserted} inserted clicks"
    assert stray <= 1


def test_real_transients_are_not_clicks(val):
    """Glass, footsteps, impacts, wood, water, rain, fire: no clicks, but in 0 A.D.'s fire loops.

    Those loops (0ad-data__c_*, sp_*) hold crackles that jump by 0.2 of full scale within one
    sample at 22.05 kHz: by signal they are clicks; the detector finds about 2 a second there.
    """
    for label in CLEAN + ("fire",):
        for it in (i for i in val if i.label == label and not i.path.name.startswith("0ad-data__c_")
                   and not i.path.name.startswith("0ad-data__sp_")):
            y, sr = _read(it.path)
            assert find_clicks(y, sr) == [], f"{it.path.name}: a real recording read as clicks"
    n, seconds = 0, 0.0
    for it in (i for i in val if i.label == "fire" and i.path.name.startswith(("0ad-data__c_", "0ad-data__sp_"))):
        y, sr = _read(it.path)
        n += len(find_clicks(y, sr))
        seconds += y.shape[0] / sr
    assert seconds > 0 and n / seconds < 3.0  # measured 43 in 20 s


def test_clicks_in_engine_output_are_found(tmp_path):
    """The debug engine's take (22.05 kHz): clicks put in where an engine makes them, found in the 48 kHz stem."""
    import torch

    torch.set_num_threads(1)
    from melfoley.core.engine import FoleyRequest, get_engine
    from melfoley.core.synthvideo import render_impact_video
    from melfoley.plugin.stems import to_48k

    video = tmp_path / "bounce.mp4"
    render_impact_video(video, kind="bounce", duration=3.0, seed=4, size=(160, 120))
    (take,) = get_engine("debug").generate([FoleyRequest(video, 0.0, 3.0, "tool impact", seed=1)])[0]
    y22 = take.audio.astype(np.float64)
    k = 256
    y22[:k] *= np.linspace(0, 1, k)
    y22[-k:] *= np.linspace(1, 0, k)
    clean = find_clicks(to_48k(y22, 22050, 3 * 48000).astype(np.float64), 48000)
    for strength, n_found in ((40.0, (1, 3)), (100.0, (0, 1, 2, 3))):
        # at 32 dB over this noise bed the impulses (odd places) are found, the decaying steps not always;
        # at 40 dB both are
        pos = _positions(y22, 22050, 4, room=0.5 / strength)
        stem = to_48k(_insert(y22, 22050, pos, strength), 22050, 3 * 48000).astype(np.float64)
        got = find_clicks(stem, 48000)
        assert _found(got, [pos[i] / 22050 for i in n_found]) == len(n_found), (strength, got)
        assert len(got) <= len(clean) + 4


def test_edges_splices_and_silence():
    sr = 48000
    t = np.arange(sr) / sr
    hiss = np.random.default_rng(0).standard_normal(sr) * 1e-3  # a full-band floor, as in any recording
    tone = 0.3 * np.sin(2 * np.pi * 200 * t + 1.0) + hiss  # starts on a non-zero sample: the cut clicks
    got = find_clicks(tone, sr)
    assert got and got[0] < 0.001
    faded = tone * np.minimum(1, np.minimum(t, t[::-1]) / 0.01)
    assert find_clicks(faded, sr) == []
    spliced = faded.copy()
    spliced[sr // 2:] = (0.3 * np.sin(2 * np.pi * 200 * t[sr // 2:] + 2.5) + hiss[sr // 2:]) * np.minimum(
        1, t[::-1][sr // 2:] / 0.01)
    assert _found(find_clicks(spliced, sr), [0.5]) == 1 and len(find_clicks(spliced, sr)) == 1
    silence = np.zeros(sr)
    assert find_clicks(silence, sr) == []
    silence[sr // 3] = 1e-5  # -100 dBFS: under the floor, inaudible
    assert find_clicks(silence, sr) == []
    silence[sr // 3] = 0.05
    assert _found(find_clicks(silence, sr), [1 / 3]) == 1


def test_no_engine_introduces_clicks_on_the_product_path(tmp_path):
    """Picture + prompt -> 48 kHz stems through BatchRunner (as `melfoley batch`), for the library, embedded
    and debug engines: impacts, footsteps and a texture, no click the engine made.

    A library stem's click is excused only where the stem there is a scaled copy of the recording the
    engine read (``bench/eval_product.click_residual``); the library also plays "fire crackling", whose
    loops crackle like clicks: those are the recording's. The other engines have no source, so any
    click fails. The bounce picture with "water splash" is where the embedded engine's HiFi-GAN, driven
    above its ceiling, made a click at the attack (this test failed there before the ceiling); with the
    exemplars' own detail it spiked there again, and at "body impact" attacks (now Griffin-Lim)."""
    import sys
    from pathlib import Path

    import torch

    bench = Path(__file__).resolve().parents[1] / "bench"
    sys.path.insert(0, str(bench))
    import eval_product
    from product_media import make_edit, render_edit

    from melfoley.core.synthvideo import render_impact_video

    torch.set_num_threads(1)
    video = tmp_path / "bounce.mp4"
    render_impact_video(video, kind="bounce", fps=25.0, duration=4.0, seed=11)
    clips = [("splash", video, 0.0, 4.0, "water splash"), ("tool", video, 0.0, 4.0, "tool impact"),
             ("wind", video, 0.0, 4.0, "wind blowing"), ("steps", video, 0.0, 4.0, "footsteps on gravel"),
             ("body", video, 0.0, 4.0, "body impact")]
    for engine in ("library", "embedded", "debug"):
        mine = clips + ([("fire", video, 0.0, 4.0, "fire crackling")] if engine == "library" else [])
        edit = make_edit(tmp_path / f"edit_{engine}.otio", mine)
        stems, report = render_edit(edit, tmp_path / f"out_{engine}", engine, ())
        assert sorted(stems) == sorted(c[0] for c in mine), (engine, [c.reason for c in report.failed])
        sources = eval_product.sidecar_sources(report)
        assert all(sources[n] for n in stems) == (engine == "library")  # every library stem names its sources
        for name, (y, sr) in stems.items():
            for t in find_clicks(y, sr):
                rest = eval_product.click_residual(y, sr, t, sources[name])
                assert rest is not None and rest <= eval_product.KEEP, \
                    f"{engine} '{name}': a click at {t:.3f} s that the engine made (residual {rest})"
        if engine == "library":  # the excuse is not blind: clicks put into the stems are the engine's
            n, rests = eval_product.inserted_check([(k, y, sr, sources[k]) for k, (y, sr) in stems.items()])
            assert n >= 4 and min(rests) > eval_product.KEEP, rests
        else:  # and the detector is not blind on this engine's stems: impulses at the engine's 22.05 kHz,
            import soxr  # 40 dB over the local level, through the stem's resampling, are found

            y, sr = stems["tool"]
            imp = np.zeros(int(y.shape[0] * 22050 / sr) + 1)
            times = [0.5, 1.9, 2.5]
            for t in times:
                p = int(t * sr)
                imp[int(t * 22050)] = 100 * max(float(np.sqrt(np.mean(y[p - 240:p + 240] ** 2))), 1e-3)
            z = y + soxr.resample(imp, 22050, sr)[: y.shape[0]]
            assert _found(find_clicks(z, sr), times) == len(times)


def test_long_textures_do_not_click(tmp_path):
    """14 s of wind and fire (two renderer windows and their crossfade) through BatchRunner with the
    embedded engine's default vocoder: no click in the 48 kHz stems, nor brought back to the engine's
    22.05 kHz. Forced through the HiFi-GAN, the same wind is a pulse train (the speech vocoder's
    voicing) whose pulses read as clicks at 22.05 kHz where the bed is smooth: take seed 2 on this
    picture, with the renderer's detail, is one where the detector sees that (17 clicks), and the
    default's take has none."""
    import sys
    from pathlib import Path

    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    from product_media import make_edit, render_edit

    from melfoley.core.synthvideo import render_impact_video

    torch.set_num_threads(1)
    video = tmp_path / "bounce.mp4"
    render_impact_video(video, kind="bounce", fps=25.0, duration=14.0, seed=0)
    clips = [("wind", video, 0.0, 14.0, "wind blowing"), ("fire", video, 0.0, 14.0, "fire crackling")]
    stems, report = render_edit(make_edit(tmp_path / "long.otio", clips), tmp_path / "out", "embedded", ())
    assert sorted(stems) == ["fire", "wind"], [c.reason for c in report.failed]
    import soxr

    for name, (y, sr) in stems.items():
        assert find_clicks(y, sr) == [] and find_clicks(soxr.resample(y, sr, 22050), 22050) == [], name
    from melfoley.core.engine import FoleyRequest, get_engine
    from melfoley.core.levels import edge_fades
    from melfoley.core.motion import PICTURE_SIZE
    from melfoley.core.video import read_frames

    frames = read_frames(video, 0.0, 14.0, size=PICTURE_SIZE)
    req = FoleyRequest(None, 0.0, 14.0, "wind blowing", frames=frames.frames, frame_rate=frames.fps, seed=2)
    for opts, most, least in (({}, 0, 0), ({"vocoder": "hifigan", "detail": "renderer"}, None, 5)):
        (take,) = get_engine("embedded", **opts).generate([req])[0]  # the take with the stems' edge fades
        n = len(find_clicks(edge_fades(take.audio, take.sample_rate), take.sample_rate))
        assert n >= least and (most is None or n <= most), (opts, n)
