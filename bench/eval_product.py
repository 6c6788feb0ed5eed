"""The product-path bench (issues 9 and 10): picture + prompt -> stem, as users do it, per engine.

Every figure comes from stems rendered through the real plugin path: an OTIO edit whose
clips point at picture files, per-clip prompts in ``metadata["melfoley"]["prompt"]``,
``melfoley.plugin.batch.BatchRunner`` with the engine under test (no cache), the 48 kHz
BWF stems read back. Printed side by side: library | embedded | debug (floor) | real (ceiling).

- prompt-following: the same picture clips (procedural impacts, the demo's drops, Big Buck
  Bunny) rendered with 26 prompts over 26 corpus classes (impacts, footsteps, textures,
  whooshes, animals); class = aisfx nearest centroid (cosine), centroids from the corpus
  VAL recordings of those classes only; ceiling: the val recordings classified the same
  way, leave-one-out; chance = 1 / classes;
- sync: scene videos with known contacts and no-touch spans (``synthvideo.render_scene_video``:
  bounce with restitution 0.7 down to the sixth bounce, slide, roll, rotate, pan, zoom; seeds
  101..) and the demo's drops.mp4 (contacts from its edit); onsets from librosa's detector
  (bench/scorers.py); recall within +-50 ms, median |error|, false hits per minute away
  from contacts, RMS where nothing touches, noise floor between events;
- clicks per minute (``melfoley.core.clicks``) over every stem rendered here (real: the val recordings),
  and the clicks the engine introduced: a library stem's click counts only where the stem is not,
  there, a scaled copy of the source recording the engine read (file and offset from the stem's
  sidecar; the fire loops' crackle is the recording's); every click of a generative stem is the engine's;
- long clips: the texture, animal and whoosh prompts and two footsteps on a 14 s picture (two
  10 s renderer windows and their crossfade), for the clicks;
- Frechet distance in the aisfx space (stems vs val recordings, equal-sized halves; real half vs half);
- RTF of a 10 s clip through the batch path; the 10-minute edit of bench/batch_timeline.py cold and cached.

    python bench/eval_product.py                       # library, embedded, debug
    python bench/eval_product.py --engines debug --quick
    python bench/eval_product.py --engines embedded,debug --write-doc
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import scorers  # noqa: E402
from product_media import RATE, make_edit, picture_clips, render_edit, scene_clips  # noqa: E402

#: (prompt, corpus label, kind); every label has >= 2 val recordings (leave-one-out needs two)
PROMPTS = [
    ("tool impact", "tool_impact", "impact"), ("metal clang", "impact_metal", "impact"),
    ("body impact", "impact_body", "impact"), ("sword blade hit", "blade_hit", "impact"),
    ("glass breaking", "glass_break", "impact"), ("wood breaking", "wood_break", "impact"),
    ("door closing", "door_close", "impact"), ("door opening", "door_open", "impact"),
    ("weapon handling", "weapon_handling", "impact"), ("digging soil with a shovel", "dig_soil", "impact"),
    ("footsteps", "footsteps_generic", "footsteps"), ("footsteps on gravel", "footsteps_gravel", "footsteps"),
    ("footsteps on grass", "footsteps_grass", "footsteps"), ("footsteps on snow", "footsteps_snow_ice", "footsteps"),
    ("footsteps on wood", "footsteps_wood", "footsteps"), ("footsteps on stone", "footsteps_stone", "footsteps"),
    ("footsteps on sand", "footsteps_sand", "footsteps"), ("footsteps on dirt", "footsteps_dirt", "footsteps"),
    ("fire crackling", "fire", "texture"), ("wind blowing", "wind", "texture"),
    ("water flowing", "water_flow", "texture"), ("water splash", "water_splash", "texture"),
    ("a fast whoosh", "whoosh", "whoosh"), ("birds chirping", "bird", "animal"),
    ("farm animals", "farm_animal", "animal"), ("crickets chirping at night", "animal_other", "animal"),
]
QUICK_PROMPTS = [PROMPTS[0], PROMPTS[11], PROMPTS[18]]
SYNC_PROMPTS = ["body impact", "tool impact", "footsteps on wood"]
#: long-clip prompts: every texture, animal and whoosh prompt, and two footsteps (indices into PROMPTS)
LONG_PROMPTS = [p for p in PROMPTS if p[2] in ("texture", "animal", "whoosh")] + [PROMPTS[10], PROMPTS[11]]
LONG_SECONDS = 14.0
COLUMNS = ["library", "embedded", "debug"]
DETAILS: list[str] = []  # every per-engine line printed, for the doc
LOAD_AT_START: list[float] = [float("nan")] * 3
MOVING = ("slide", "roll", "rotation", "pan", "zoom")  # no-touch spans where something moves


def say(line: str) -> None:
    print(line, flush=True)
    DETAILS.append(line)


# ---------------------------------------------------------------------------- sections
class Real:
    """The val recordings of the prompted classes: embeddings, the leave-one-out ceiling, clicks."""

    def __init__(self, labels: list[str], embedder):
        from melfoley.core.corpus import load_manifest, split
        from melfoley.core.metrics import accuracy, centroids, loo_nearest_centroid, split_embeddings

        self.items = [it for it in split(load_manifest(), "val") if it.label in set(labels)]
        if not self.items:
            from melfoley.core.corpus import corpus_root

            raise SystemExit(f"eval_product: no val recordings of {', '.join(sorted(set(labels)))} in the corpus at "
                             f"{corpus_root()}; the real ceiling needs the full corpus: set MELFOLEY_CORPUS")
        self.labels = [it.label for it in self.items]
        self.emb = split_embeddings(embedder, [it.path for it in self.items])
        self.centroids = centroids(self.emb, self.labels)
        self.ceiling = accuracy(loo_nearest_centroid(self.emb, self.labels), self.labels)
        self.chance = 1.0 / len(self.centroids)

    def clicks_per_min(self) -> float:
        import soundfile as sf

        from melfoley.core.clicks import find_clicks

        n, minutes = 0, 0.0
        for it in self.items:
            y, sr = sf.read(str(it.path), dtype="float64")
            y = y if y.ndim == 1 else y.mean(1)
            k = min(int(0.005 * sr), y.shape[0] // 4)  # a recording's own cut edges are not scored
            if k:
                y[:k] *= np.linspace(0, 1, k)
                y[-k:] *= np.linspace(1, 0, k)
            n += len(find_clicks(y, sr))
            minutes += y.shape[0] / sr / 60
        return n / minutes



def frechet_halves(gen: np.ndarray, real: np.ndarray, seed: int = 0) -> tuple[float, float]:
    """(stems half vs real half B, real half A vs real half B), all halves the same size."""
    from melfoley.core.metrics import frechet

    rng = np.random.default_rng(seed)
    perm = rng.permutation(real.shape[0])
    a, b = real[perm[: len(perm) // 2]], real[perm[len(perm) // 2:]]
    g = gen[rng.permutation(gen.shape[0])[: a.shape[0]]]
    return frechet(g, b), frechet(a, b)


def prompt_section(engine, options, work, pictures, prompts, real, embedder, res, all_stems):
    from melfoley.core.metrics import accuracy, nearest_centroid

    clips = [(f"{pi}_{k:02d}", media, start, dur, p) for k, (p, _, _) in enumerate(prompts)
             for pi, media, start, dur in pictures]
    want = {f"{pi}_{k:02d}": lab for k, (_, lab, _) in enumerate(prompts) for pi, *_ in pictures}
    t = time.perf_counter()
    stems, rep = render_edit(make_edit(work / "prompts.otio", clips), work / f"out_prompts_{engine}", engine, options)
    sources = sidecar_sources(rep)
    names = sorted(stems)
    emb = np.stack([embedder.embed(*stems[n], active_only=True) for n in names]) if names else np.zeros((0, 512))
    pred = nearest_centroid(emb, real.centroids) if names else []
    res["prompt_acc"] = accuracy(pred, [want[n] for n in names]) if names else float("nan")
    res["prompt_n"] = f"{len(names)}/{len(clips)}"
    res["fd"], res["fd_real"] = frechet_halves(emb, real.emb) if len(names) >= 4 else (float("nan"),) * 2
    kinds = {}
    for n, p in zip(names, pred):
        kind = prompts[int(n.rsplit("_", 1)[1])][2]
        kinds.setdefault(kind, []).append(p == want[n])
    res["prompt_by_kind"] = {k: float(np.mean(v)) for k, v in sorted(kinds.items())}
    all_stems += [(n, *stems[n], sources.get(n)) for n in names]
    say(f"  [{engine}] prompt-following: {len(names)} stems in {time.perf_counter() - t:.0f} s, accuracy "
        f"{res['prompt_acc']:.3f}; by kind " + ", ".join(f"{k} {v:.2f}" for k, v in res["prompt_by_kind"].items()))


def sync_section(engine, options, work, scenes, res, all_stems):
    clips = [(name, media, 0.0, dur, SYNC_PROMPTS[i % len(SYNC_PROMPTS)])
             for i, (name, media, dur, *_rest) in enumerate(scenes)]
    t = time.perf_counter()
    stems, rep = render_edit(make_edit(work / "sync.otio", clips), work / f"out_sync_{engine}", engine, options)
    sources = sidecar_sources(rep)
    pooled, by_kind = scorers.SyncTally(), {}
    for name, _media, _dur, contacts, quiet, kind in scenes:
        if name not in stems:
            continue
        y, sr = stems[name]
        late = 4 if kind == "bounce" else None  # the 4th to 6th bounce: the quiet ones
        pooled.add(y, sr, contacts, quiet, late_from=late)
        by_kind.setdefault(kind, scorers.SyncTally()).add(y, sr, contacts, quiet)
        all_stems.append((name, *stems[name], sources.get(name)))
    res.update(recall=pooled.recall(), median_ms=pooled.median_ms(), false_per_min=pooled.false_per_min(),
               inner=pooled.inner, quiet_db=pooled.quiet_dbfs(), noise_db=pooled.noise_floor_dbfs(),
               late_recall=pooled.late_recall(), silent_spans=pooled.silent_spans(),
               moving_hits=sum(v for k, v in pooled.hits_by.items() if k in MOVING),
               sync_n=f"{len(stems)}/{len(scenes)} clips, {pooled.contacts} contacts")
    say(f"  [{engine}] sync: {len(stems)} stems in {time.perf_counter() - t:.0f} s; quiet RMS by span: "
        + ", ".join(f"{k} {v:.1f}" for k, v in pooled.quiet_dbfs_by().items()) + "; onsets inside those spans: "
        + ", ".join(f"{k} {v}" for k, v in sorted(pooled.hits_by.items())))
    for kind, tal in sorted(by_kind.items()):
        say(f"    {kind:7s} recall {tal.recall():.2f} ({tal.matched}/{tal.contacts}), "
            f"median |error| {tal.median_ms():.1f} ms (signed {tal.signed_median_ms():+.1f}), "
            f"false/min {tal.false_per_min():.1f}, inner {tal.inner}, quiet {tal.quiet_dbfs():.1f} dBFS")


def sidecar_sources(report) -> dict[str, list | None]:
    """{clip name: the library sources of its first stem (sidecar ``library_sources``), None for other engines}."""
    import json

    out = {}
    for c in report.clips:
        if c.status in ("done", "cached") and c.stems:
            side = Path(c.stems[0]).with_suffix(".json")
            out[c.name] = json.loads(side.read_text()).get("library_sources") if side.exists() else None
    return out


#: a library stem's click is the recording's when, within +-HALF_S of it, the stem is a scaled copy of the
#: source audio the engine read there (least squares over the sources sounding there) and what the fit
#: leaves holds at most KEEP of the click's roughness (second difference). A cut without a fade, a gain step,
#: a splice or a click added to the stem stays in the residual (``inserted_check`` prints how much, for
#: impulses and gaps put into the stems on purpose)
HALF_S = 0.0005
KEEP = 0.25
STEM_RATE = 48000
SOURCE_EDGE_S = 0.005  # a recording's own first and last 5 ms are faded, as for the real column
_SOURCE_AUDIO: dict[str, tuple[np.ndarray, int]] = {}


def source_spans(src: dict, until: int) -> list[tuple[int, int]]:
    """Stem samples [s0, s1) where ``src`` sounds before sample ``until``, one span per copy of a looped texture."""
    at = int(round(float(src["at_s"]) * STEM_RATE))
    if src.get("looped") and src.get("loop_period_s"):  # copy k starts k periods in, overlapping the next (seam)
        period = max(1, int(round(float(src["loop_period_s"]) * STEM_RATE)))
        length = period + int(round(float(src.get("loop_crossfade_s") or 0.0) * STEM_RATE))
        return [(at + k * period, at + k * period + length) for k in range(max(0, (until - at) // period + 1))]
    return [(at, at + int(round(float(src["duration_s"]) * STEM_RATE)))]


def _source_audio(path: str) -> tuple[np.ndarray, int]:
    if path not in _SOURCE_AUDIO:
        import soundfile as sf

        y, sr = sf.read(path, dtype="float32", always_2d=True)
        y = (y.mean(axis=1) if y.shape[1] > 1 else y[:, 0]).copy()
        k = min(int(SOURCE_EDGE_S * sr), y.shape[0] // 4)  # a file that starts on its sound excuses no step
        if k:
            y[:k] *= np.linspace(0, 1, k, dtype=np.float32)
            y[-k:] *= np.linspace(1, 0, k, dtype=np.float32)
        _SOURCE_AUDIO[path] = (y, sr)
    return _SOURCE_AUDIO[path]


def source_columns(src: dict, n0: int, n1: int) -> list[np.ndarray]:
    """The recording as the library engine read it (mono, soxr HQ to 48 kHz on the same sample grid) at stem
    samples [n0, n1), one column per copy of it that sounds there; zeros outside the copy."""
    import math

    import soxr

    y, sr = _source_audio(src["file"])
    a = int(round(float(src["offset_s"]) * sr))
    g = math.gcd(sr, STEM_RATE)
    step_in, step_out = sr // g, STEM_RATE // g  # resampling from a + m * step_in keeps the engine's grid
    lead = int(0.02 * STEM_RATE)  # the resampler's start and end transients stay outside the window
    cols = []
    for s0, s1 in source_spans(src, n1):
        j0, j1 = max(n0, s0) - s0, min(n1, s1) - s0
        if j1 <= j0:
            continue
        m = max(0, (j0 - lead) // step_out)
        ia, ib = a + m * step_in, min(y.shape[0], a + int(np.ceil((j1 + lead) * sr / STEM_RATE)) + 1)
        if ib <= ia:
            continue
        x = soxr.resample(y[ia:ib], sr, STEM_RATE, quality="HQ") if sr != STEM_RATE else y[ia:ib]
        seg = np.asarray(x[j0 - m * step_out: j1 - m * step_out], np.float64)
        col = np.zeros(n1 - n0)
        col[s0 + j0 - n0: s0 + j0 - n0 + seg.shape[0]] = seg
        cols.append(col)
    return cols


def click_residual(y: np.ndarray, sr: int, t: float, sources) -> float | None:
    """The share of the click's roughness at ``t`` that the sources sounding there do not explain
    (None: no source sounds there)."""
    if sr != STEM_RATE:
        return None
    n, h = int(round(t * sr)), int(round(HALF_S * sr))
    n0, n1 = max(0, n - h - 1), min(y.shape[0], n + h + 2)
    cols = [c for s in sources or () for c in source_columns(s, n0, n1)]
    cols = [c for c in cols if np.any(c)]
    if not cols or n1 - n0 < 5:
        return None
    seg = y[n0:n1]
    a = np.stack(cols, axis=1)
    gains, *_ = np.linalg.lstsq(a, seg, rcond=None)
    rest = seg - a @ gains

    def rough(v):
        return float(np.abs(v[2:] - 2 * v[1:-1] + v[:-2]).max())

    return rough(rest) / max(rough(seg), 1e-12)


def inserted_check(stems, rng_seed: int = 0) -> tuple[int, list[float]]:
    """The residual test on clicks put in on purpose: in each library stem, an impulse (40x the local mean
    level) and a 400-sample gap inside a source; (count, residuals). All must exceed KEEP."""
    rng = np.random.default_rng(rng_seed)
    out = []
    for _name, y, sr, sources in stems:
        for src in (sources or [])[:2]:
            dur = float(src["duration_s"])
            if dur < 0.05:
                continue
            t = float(src["at_s"]) + float(rng.uniform(0.02, dur - 0.02))
            n = int(round(t * sr))
            if not 500 <= n < y.shape[0] - 500:
                continue
            z = y.copy()
            z[n] += 40 * (np.abs(y[n - 240:n + 240]).mean() + 1e-4) * rng.choice([-1, 1])
            gap = y.copy()
            gap[n:n + 400] = 0.0
            got = (click_residual(z, sr, t, sources), click_residual(gap, sr, t, sources))
            out += [r for r in got if r is not None]
    return len(out), out


def clicks_section(engine, stems, res) -> None:
    """Raw clicks per minute, and the clicks the engine introduced (not the source recording's waveform)."""
    from melfoley.core.clicks import find_clicks

    raw, introduced, where, own = 0, 0, [], []
    for name, y, sr, sources in stems:
        for t in find_clicks(y, sr):
            raw += 1
            rest = click_residual(y, sr, t, sources)
            if rest is None or rest > KEEP:
                introduced += 1
                where.append(f"{name} @{t:.3f} s" + (f" (residual {rest:.2f})" if rest is not None else ""))
            else:
                own.append(rest)
    minutes = sum(y.shape[0] / sr for _, y, sr, _ in stems) / 60
    res["clicks_per_min"], res["clicks_introduced_per_min"] = raw / minutes, introduced / minutes
    res["clicks_n"] = f"{raw} / {introduced} in {minutes:.1f} min"
    say(f"  [{engine}] clicks: {raw} in {len(stems)} stems ({minutes:.1f} min); {raw - introduced} are the source "
        f"recording's waveform (residual {max(own, default=0):.2f} at most), {introduced} introduced by the engine"
        + (": " + "; ".join(where[:12]) + (" ..." if len(where) > 12 else "") if where else ""))
    n, rests = inserted_check(stems)
    if n:
        say(f"  [{engine}] check: {n} impulses and gaps put into the stems' sources read as introduced: "
            f"{sum(r > KEEP for r in rests)}/{n} (residual {min(rests):.2f} to {max(rests):.2f})")


def long_section(engine, options, work, res, all_stems):
    """Long clips (two renderer windows): clicks per prompt (counted with the others too)."""
    from melfoley.core.synthvideo import render_impact_video

    p = work / "long_bounce13.mp4"
    if not p.exists():
        render_impact_video(p, kind="bounce", fps=RATE, duration=LONG_SECONDS, seed=13)
    clips = [(f"long_{k:02d}", p, 0.0, LONG_SECONDS, prompt) for k, (prompt, _, _) in enumerate(LONG_PROMPTS)]
    t = time.perf_counter()
    stems, rep = render_edit(make_edit(work / "long.otio", clips), work / f"out_long_{engine}", engine, options)
    sources = sidecar_sources(rep)
    from melfoley.core.clicks import find_clicks

    per = []
    for name in sorted(stems):
        y, sr = stems[name]
        prompt = LONG_PROMPTS[int(name.rsplit("_", 1)[1])][0]
        per.append((prompt, len(find_clicks(y, sr))))
        all_stems.append((name, y, sr, sources.get(name)))
    res["long_clicks"] = sum(c for _, c in per)
    say(f"  [{engine}] long clips ({LONG_SECONDS:.0f} s): {len(stems)} stems in {time.perf_counter() - t:.0f} s; "
        "clicks by prompt: " + ", ".join(f"{p} {c}" for p, c in per))


def rtf_section(engine, options, work, res):
    from melfoley.core.synthvideo import render_impact_video

    p = work / "rtf_bounce10.mp4"
    if not p.exists():
        render_impact_video(p, kind="bounce", fps=RATE, duration=10.0, seed=5)
    _, rep = render_edit(make_edit(work / "rtf.otio", [("rtf", p, 0.0, 10.0, "footsteps on gravel")]),
                         work / f"out_rtf_{engine}", engine, options)
    c = [c for c in rep.clips if c.name == "rtf"][0]
    res["rtf"] = c.render_s / 10.0 if c.status == "done" else float("nan")
    res["rtf_all"] = (c.decode_s + c.render_s + c.write_s) / 10.0 if c.status == "done" else float("nan")


def batch_section(engine, options, work, res, quick, minutes, clips):
    import batch_timeline as bt

    bwork = work / "batch"
    bwork.mkdir(parents=True, exist_ok=True)
    old = os.environ.get("MELFOLEY_CACHE_DIR")
    os.environ["MELFOLEY_CACHE_DIR"] = str(bwork / f"cache_{engine}")
    shutil.rmtree(bwork / f"cache_{engine}", ignore_errors=True)
    try:
        size, seconds = ((320, 180), 10.0) if quick else ((1280, 720), 60.0)
        media = bt.make_media(bwork, size, seconds=seconds)
        edit = bt.make_edit(bwork, media, clips, minutes, media_seconds=seconds)
        out = bwork / f"out_{engine}"
        shutil.rmtree(out, ignore_errors=True)
        cold, _, rep = bt.run_once(edit, out, engine, f"{engine} cold", options)
        warm, _, _ = bt.run_once(edit, out, engine, f"{engine} rerun", options)
        res["batch_cold"], res["batch_cached"] = cold, warm
        res["batch_n"] = f"{clips} clips, {minutes:g} min, {size[0]}x{size[1]}; failed {rep.count('failed')}"
    finally:
        if old is None:
            os.environ.pop("MELFOLEY_CACHE_DIR", None)
        else:
            os.environ["MELFOLEY_CACHE_DIR"] = old


# ---------------------------------------------------------------------------- table
def _f(v, fmt):
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    if isinstance(v, float) and np.isnan(v):
        return "n/a"
    if isinstance(v, float) and np.isinf(v):
        return "digital silence" if v < 0 else "inf"
    return format(v, fmt)


ROWS = [  # (label, key, format, goal)
    ("prompt-following accuracy (aisfx nearest centroid)", "prompt_acc", ".3f", ""),
    ("  ratio to the real ceiling", "prompt_ratio", ".2f", "library >= 0.8, embedded >= 0.6"),
    ("  chance", "chance", ".3f", ""),
    ("  stems scored", "prompt_n", "", ""),
    ("sync recall within +-50 ms", "recall", ".3f", ">= 0.9"),
    ("  recall of the 4th-6th bounce (restitution 0.7)", "late_recall", ".3f", ">= 0.9"),
    ("sync median |onset error| (ms)", "median_ms", ".1f", "<= 20"),
    ("onsets during slides, rolls, spins, pans, zooms", "moving_hits", "d", "0"),
    ("false hits / min away from contacts", "false_per_min", ".1f", "0"),
    ("inner onsets of an event (not false hits)", "inner", "d", ""),
    ("RMS where nothing touches (dBFS, all spans pooled)", "quiet_db", ".1f", "<= -70"),
    ("  no-touch spans at or under -70 dBFS", "silent_spans", "", "all"),
    ("noise floor between events (dBFS, p10 of 50 ms RMS)", "noise_db", ".1f", ""),
    ("  sync stems", "sync_n", "", ""),
    ("clicks / min (raw: every click in the stems)", "clicks_per_min", ".2f", ""),
    ("  clicks / min introduced by the engine (not in the source recording)", "clicks_introduced_per_min", ".2f",
     "0"),
    ("  clicks raw / introduced", "clicks_n", "", ""),
    ("  clicks in the 14 s stems, raw (two renderer windows; in the figures above too)", "long_clicks", "d", ""),
    ("Frechet distance, aisfx (half vs real half)", "fd", ".1f", "real: half vs half"),
    ("RTF, 10 s clip (engine)", "rtf", ".3f", "library <= 0.05, embedded <= 0.35"),
    ("RTF, 10 s clip (decode + engine + write)", "rtf_all", ".3f", ""),
    ("10-min edit cold (s)", "batch_cold", ".1f", "<= 90 (default engine)"),
    ("10-min edit cached rerun (s)", "batch_cached", ".2f", "< 5"),
    ("  edit", "batch_n", "", ""),
]


def table(results: dict[str, dict], real_col: dict) -> str:
    cols = list(results) + ["real (ceiling)"]
    data = {**results, "real (ceiling)": real_col}
    lines = ["| measure | " + " | ".join(cols) + " | goal |", "|---|" + "---|" * len(cols) + "---|"]
    for label, key, fmt, goal in ROWS:
        cells = []
        for c in cols:
            r = data[c]
            cells.append(r["status"] if "status" in r else _f(r.get(key), fmt))
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {goal} |")
    return "\n".join(lines)


def write_doc(path: Path, text: str, command: str, started: float, notes: list[str]) -> None:
    import platform

    import torch

    from melfoley.core.atomic import atomic_text

    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    what = __doc__.split("\n\n")[2].strip()  # the bullet list of the module docstring
    doc = [
        "# Product-path evaluation (issues 9 and 10)", "",
        "Picture + prompt -> stem, as users do it: every figure comes from 48 kHz BWF stems rendered through"
        " `melfoley.plugin.batch.BatchRunner` from an OTIO edit with per-clip prompts (no cache).", "",
        "## What is measured", "", what, "",
        "## Result", "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(started))}, command:", "",
        f"    {command}", "",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch threads "
        f"{torch.get_num_threads()}, load average {LOAD_AT_START[0]:.1f} at the start, {load[0]:.1f} at the end "
        f"(the development machine is shared by several sessions: wall times, RTF and the batch figures vary "
        f"2-4x with its load); wall time {time.time() - started:.0f} s.", "",
        text, "", *notes, "",
        "## Per-engine details (as printed)", "", "```", *DETAILS, "```", "",
        "How each figure is made: the docstrings of `bench/eval_product.py`, `bench/product_media.py` and"
        " `bench/scorers.py`; the click detector is `melfoley/core/clicks.py`, the scene videos"
        " `melfoley.core.synthvideo.render_scene_video`.", ""]
    atomic_text(path, "\n".join(doc))


# ---------------------------------------------------------------------------- main
def parse_options(items: list[str]) -> dict[str, tuple]:
    out: dict[str, list] = {}
    for it in items:
        name, _, kv = it.partition(":")
        k, eq, v = kv.partition("=")
        if not (name and k and eq):
            raise SystemExit(f"--engine-opt {it!r}: write ENGINE:KEY=VALUE, e.g. embedded:vocoder=griffinlim")
        out.setdefault(name, []).append((k, v))
    return {k: tuple(v) for k, v in out.items()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--engines", default=",".join(COLUMNS))
    ap.add_argument("--engine-opt", action="append", default=[], metavar="ENGINE:KEY=VALUE")
    ap.add_argument("--quick", action="store_true", help="a small subset (the smoke test): 3 prompts x 1 picture, "
                    "2 scenes, a 15 s edit at 320x180")
    ap.add_argument("--only", default="prompt,sync,long,rtf,batch",
                    help="sections to run (clicks come with prompt/sync/long)")
    ap.add_argument("--batch-minutes", type=float, default=None)
    ap.add_argument("--batch-clips", type=int, default=None)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1: the machine is shared)")
    ap.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "melfoley-bench-eval_product"))
    ap.add_argument("--write-doc", action="store_true", help="write docs/eval_product.md with the table")
    ap.add_argument("--doc", default=str(HERE.parent / "docs" / "eval_product.md"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    started = time.time()
    DETAILS.clear()
    LOAD_AT_START[:] = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    import torch

    torch.set_num_threads(args.threads)
    from melfoley.core.engine import available_engines, get_engine
    from melfoley.core.errors import MelfoleyError
    from melfoley.core.metrics import AisfxEmbedder

    only = set(args.only.split(","))
    engines = [e for e in args.engines.split(",") if e]
    options = parse_options(args.engine_opt)
    work = Path(args.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    prompts = QUICK_PROMPTS if args.quick else PROMPTS
    minutes = args.batch_minutes or (0.25 if args.quick else 10.0)
    clips = args.batch_clips or (3 if args.quick else 60)
    embedder = AisfxEmbedder()
    real = Real([lab for _, lab, _ in prompts], embedder)
    pictures = picture_clips(work, args.quick) if "prompt" in only else []
    scenes = scene_clips(work, args.quick) if "sync" in only else []
    print(f"eval_product: {len(prompts)} prompts x {len(pictures)} pictures, {len(scenes)} sync clips, "
          f"{len(real.items)} val recordings of {len(real.centroids)} classes; torch threads {torch.get_num_threads()}",
          flush=True)
    results: dict[str, dict] = {}
    registered = available_engines()
    for name in engines:
        if name not in registered:
            results[name] = {"status": "not available"}
            say(f"  [{name}] not available (registered: {', '.join(registered)})")
            continue
        opts = options.get(name, ())
        try:
            get_engine(name, **dict(opts))
        except MelfoleyError as exc:
            results[name] = {"status": "failed to load"}
            say(f"  [{name}] failed to load: {exc}")
            continue
        res, stems = {"chance": real.chance}, []
        t = time.perf_counter()
        if "prompt" in only:
            prompt_section(name, opts, work, pictures, prompts, real, embedder, res, stems)
            res["prompt_ratio"] = res["prompt_acc"] / real.ceiling if real.ceiling else float("nan")
        if "sync" in only:
            sync_section(name, opts, work, scenes, res, stems)
        if "long" in only:
            long_section(name, opts, work, res, stems)
        if stems:
            clicks_section(name, stems, res)
        if "rtf" in only:
            rtf_section(name, opts, work, res)
        if "batch" in only:
            batch_section(name, opts, work, res, args.quick, minutes, clips)
        say(f"  [{name}] done in {time.perf_counter() - t:.0f} s")
        results[name] = res
    real_col = {"prompt_acc": real.ceiling, "prompt_ratio": 1.0, "chance": real.chance,
                "prompt_n": f"{len(real.items)} (leave-one-out)", "clicks_per_min": real.clicks_per_min()}
    if "prompt" in only:
        real_col["fd"] = frechet_halves(real.emb, real.emb)[1]
    text = table(results, real_col)
    notes = [f"Counts: {len(prompts)} prompts x {len(pictures)} picture clips for prompt-following; "
             f"{len(scenes)} sync clips (scene kinds x seeds, and drops.mp4); chance = 1/{len(real.centroids)}.",
             f"Sync: one-to-one matching within +-{scorers.TOL_S * 1000:.0f} ms; unmatched onsets within "
             f"{scorers.INNER_S * 1000:.0f} ms after a true contact are the event's own inner onsets, not false hits; "
             f"silence is measured over the no-touch spans leaving {scorers.GUARD_BEFORE_S * 1000:.0f} ms before and "
             f"{scorers.TAIL_S * 1000:.0f} ms after each contact; onsets under -70 dBFS are not counted.",
             "Clicks: every stem rendered for prompt-following and sync; real: the val recordings of the classes. "
             "Introduced: a click counts unless the stem there is the recording the library engine read (file, "
             f"offset and placement from the sidecar): within +-{HALF_S * 1000:.1f} ms, a least-squares scaled copy "
             f"of the source audio leaves at most {KEEP:.0%} of the click's roughness; the generative and debug "
             "engines have no source recording, so all their clicks count."]
    print("\n" + text + "\n\n" + "\n".join(notes))
    if args.write_doc:
        doc = Path(args.doc)
        words = list(argv if argv is not None else sys.argv[1:])
        if "--doc" in words:  # where the doc goes is not part of the measurement
            i = words.index("--doc")
            del words[i:i + 2]
        write_doc(doc, text, "python bench/eval_product.py " + " ".join(words), started, notes)
        print(f"wrote {doc}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
