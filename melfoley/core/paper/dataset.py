"""Paper-tier training data: ``melfoley dataset build SRC -o DIR`` and the reader the trainers use.

Per clip (``clip_seconds`` long, 10.24 s = one model window by default **[ours]**): audio
at 16 kHz mono (peak 0.95), the ``auffusion16k`` log-mel and its QCD targets (E, D and the
two 81-class code streams), the frames' features from the frozen visual encoder at 25 fps
(V2X's rate), the mean CLIP image embedding of the frames (the adapter's input; when a
CLIP vision folder is given) and the label text.

Storage: safetensors shards (``shards/<split>-NNNNN.safetensors``) with a JSON record
beside each and ``manifest.json`` over all. Why safetensors and not webdataset tars: every
clip is a handful of fixed-shape tensors; safetensors is already a dependency, reads by
memory map with random access (the trainers shuffle across the whole set), holds no pickle,
and a shard is written atomically (temp file, then rename), which makes the build resumable
shard by shard: a rerun skips every shard whose record exists. Tars would add a dependency
and only stream in order.

Bad sources are skipped with the reason in the manifest (no audio stream, silent, too
short, undecodable, file not found). The split is decided per source video before any
decoding (:func:`dataset_sources.assign_splits`), so no video has clips on both sides.
Workers: sources are grouped into shards; shards are built in parallel processes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from ..errors import MelfoleyError
from .dataset_sources import Source, assign_splits, list_sources

FORMAT = "melfoley.paper-dataset/1"
FPS = 25.0
SILENT_PEAK = 10 ** (-60 / 20)  # -60 dBFS: a source whose loudest sample is below is "silent"


@dataclass(frozen=True)
class DatasetConfig:
    clip_seconds: float = 10.24  # one model window (1024 mel frames, 256 picture frames)
    max_clips_per_source: int = 1  # VGGSound / AVSync15 clips are 10 s: one each; raise for long videos
    visual_encoder: str = ""  # folder with encoder.json (see encoders.py); "" = EfficientNet-Lite0, 1280-d
    clip_encoder: str = ""  # folder of a CLIP vision model (+ preprocessor_config.json); "" = no CLIP embedding
    val_fraction: float = 0.1
    sources_per_shard: int = 64
    seed: int = 0

    @classmethod
    def from_dict(cls, obj: dict) -> "DatasetConfig":
        unknown = set(obj) - set(cls.__dataclass_fields__)
        if unknown:
            raise MelfoleyError(f"unknown dataset settings {sorted(unknown)}; known: {sorted(cls.__dataclass_fields__)}")
        return cls(**obj)

    @property
    def samples(self) -> int:
        return int(round(self.clip_seconds * 16000))

    @property
    def frames(self) -> int:
        return int(round(self.clip_seconds * FPS))


@dataclass
class ShardResult:
    name: str
    clips: list[dict] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)


# ---------------------------------------------------------------------------- decoding
def read_media_audio(path: Path, sample_rate: int = 16000) -> np.ndarray:
    """The first audio stream of a media file, mono float32 at ``sample_rate`` (PyAV + libswresample)."""
    import av

    try:
        container = av.open(str(path))
    except Exception as exc:  # PyAV's errors name no file
        raise MelfoleyError(f"undecodable: {path} cannot be opened ({str(exc)[:120]})") from exc
    try:
        if not container.streams.audio:
            raise MelfoleyError("no audio stream")
        res = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
        chunks = []
        try:
            for frame in container.decode(container.streams.audio[0]):
                chunks += [o.to_ndarray().reshape(-1) for o in res.resample(frame)]
            chunks += [o.to_ndarray().reshape(-1) for o in res.resample(None)]
        except av.error.FFmpegError as exc:
            raise MelfoleyError(f"undecodable audio ({str(exc)[:120]})") from exc
    finally:
        container.close()
    return np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)


def _source_audio(src: Source) -> np.ndarray:
    if src.audio is None:
        return read_media_audio(src.video)
    from ..audio import load_audio

    if src.audio.suffix.lower() in (".wav", ".flac", ".ogg", ".aiff", ".aif"):
        return load_audio(src.audio, "auffusion16k", normalise=False)
    return read_media_audio(src.audio)


class Encoders:
    """The frozen encoders of one build (loaded once per worker)."""

    def __init__(self, cfg: DatasetConfig):
        import torch

        from .encoders import EfficientNetLite0Encoder, load_visual_encoder

        torch.set_num_threads(1)
        if cfg.visual_encoder:
            self.visual = load_visual_encoder(cfg.visual_encoder)
        else:
            self.visual = EfficientNetLite0Encoder(1280)
        self.clip = None
        if cfg.clip_encoder:
            from .encoders import ClipImageEncoder

            self.clip = ClipImageEncoder(cfg.clip_encoder)


def _clip_tensors(src: Source, wave: np.ndarray, start: float, cfg: DatasetConfig, enc: Encoders) -> dict:
    import torch

    from .. import qcd
    from ..audio import peak_normalise
    from ..mel import log_mel
    from ..video import read_frames

    a0 = int(round(start * 16000))
    clip = peak_normalise(wave[a0:a0 + cfg.samples])
    mel = log_mel(clip, "auffusion16k")
    e, d, s = qcd.decompose(mel, "auffusion16k")
    frames = read_frames(src.video, src.start + start, cfg.clip_seconds, size=224, fps=FPS).frames
    if len(frames) < cfg.frames:  # the picture ends a little early: repeat its last frame
        frames = np.concatenate([frames, np.repeat(frames[-1:], cfg.frames - len(frames), 0)])
    out = {"audio": torch.from_numpy(clip), "mel": mel.to(torch.float16),
           "energy": e.float(), "spread": d.float(), "codes": qcd.encode(s).to(torch.uint8),
           "features": enc.visual.encode(frames[:cfg.frames]).float()}
    if enc.clip is not None:
        out["clip"] = enc.clip.encode(frames[:cfg.frames]).float().mean(0)
    return out


def process_source(src: Source, cfg: DatasetConfig, enc: Encoders) -> tuple[list[dict], list[tuple], str]:
    """(clip records, their tensors, skip reason or "") of one source."""
    from ..errors import MediaError

    if src.missing:
        return [], [], src.missing
    try:
        wave = _source_audio(src)
        if src.start:
            wave = wave[int(round(src.start * 16000)):]
        from ..video import probe

        info = probe(src.video)
    except MediaError as exc:
        return [], [], f"undecodable picture ({str(exc)[:160]})"
    except MelfoleyError as exc:
        return [], [], str(exc)[:200]
    usable = min(wave.shape[0] / 16000, info.duration - src.start)
    if wave.size == 0:
        return [], [], "no audio (empty stream)"
    if float(np.abs(wave).max()) < SILENT_PEAK:
        return [], [], f"silent (peak below -60 dBFS over {wave.shape[0] / 16000:.2f} s)"
    n = min(int(usable // cfg.clip_seconds + 1e-9), cfg.max_clips_per_source)
    if n < 1:
        return [], [], f"too short ({usable:.2f} s of picture with sound; clips are {cfg.clip_seconds:g} s)"
    records, tensors = [], []
    for k in range(n):
        start = k * cfg.clip_seconds
        seg = wave[int(round(start * 16000)):int(round(start * 16000)) + cfg.samples]
        if float(np.abs(seg).max()) < SILENT_PEAK:
            continue  # a silent stretch of an otherwise usable video
        try:
            t = _clip_tensors(src, wave, start, cfg, enc)
        except MelfoleyError as exc:
            return records, tensors, f"undecodable at {start:.2f} s ({str(exc)[:160]})"
        records.append({"video": str(src.video), "audio": str(src.audio) if src.audio else "", "label": src.label,
                        "start": src.start + start, "duration": cfg.clip_seconds, "split": src.split})
        tensors.append(t)
    return records, tensors, "" if records else "silent (every clip of it)"


# ---------------------------------------------------------------------------- shards
_WORKER: dict = {}


def _init_worker(cfg_dict: dict) -> None:
    _WORKER["cfg"] = DatasetConfig(**cfg_dict)
    _WORKER["enc"] = Encoders(_WORKER["cfg"])


def build_shard(out: str, name: str, sources: list[Source]) -> ShardResult:
    """Build one shard (in a worker): tensors + record, each written atomically."""
    cfg, enc = _WORKER["cfg"], _WORKER["enc"]
    res = ShardResult(name)
    all_records, all_tensors = [], []
    for src in sources:
        records, tensors, reason = process_source(src, cfg, enc)
        if reason:
            res.skipped.append({"video": str(src.video), "audio": str(src.audio or ""), "reason": reason})
        all_records += records
        all_tensors += tensors
    res.clips = write_shard(out, name, all_records, all_tensors, res.skipped)
    return res


def write_shard(out, name: str, records: list[dict], tensors: list[dict], skipped: list[dict] = ()) -> list[dict]:
    """One shard: ``shards/<name>.safetensors`` (clip i's tensors as ``i.<key>``) and its JSON record."""
    from safetensors.torch import save_file

    from ..atomic import atomic_path, atomic_text

    clips, flat = [], {}
    for i, (rec, t) in enumerate(zip(records, tensors)):
        clips.append({**rec, "shard": name, "index": i})
        flat.update({f"{i}.{k}": v.contiguous() for k, v in t.items()})
    shards = Path(out) / "shards"
    shards.mkdir(parents=True, exist_ok=True)
    if flat:
        with atomic_path(shards / f"{name}.safetensors") as tmp:
            save_file(flat, tmp)
    atomic_text(shards / f"{name}.json", json.dumps({"clips": clips, "skipped": list(skipped)}, indent=1))
    return clips


def _config_id(cfg: DatasetConfig) -> str:
    from .weights import content_id

    parts = [json.dumps(asdict(cfg), sort_keys=True)]
    for folder in (cfg.visual_encoder, cfg.clip_encoder):
        parts.append(content_id(Path(folder)) if folder else "")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def plan_shards(sources: list[Source], per_shard: int) -> dict[str, list[Source]]:
    plan: dict[str, list[Source]] = {}
    for split in ("train", "val"):
        rows = sorted((s for s in sources if s.split == split), key=lambda s: s.key)
        for i in range(0, len(rows), per_shard):
            plan[f"{split}-{i // per_shard:05d}"] = rows[i:i + per_shard]
    return plan


def build_dataset(src: str | Path, out: str | Path, cfg: DatasetConfig = DatasetConfig(), *, workers: int = 1,
                  log=print) -> dict:
    """Build (or resume) a dataset in ``out``; returns the manifest."""
    from ..atomic import atomic_text

    out = Path(out)
    sources = assign_splits(list_sources(src), cfg.val_fraction, cfg.seed)
    cid = _config_id(cfg)
    out.mkdir(parents=True, exist_ok=True)
    (out / "shards").mkdir(exist_ok=True)
    stamp = out / "build.json"
    if stamp.exists():
        old = json.loads(stamp.read_text())
        if old.get("config_id") != cid:
            raise MelfoleyError(f"{out} was built with other settings (or encoders) than these; build into a new "
                                "folder, or delete it to start again")
    else:
        atomic_text(stamp, json.dumps({"format": FORMAT, "config": asdict(cfg), "config_id": cid}, indent=1))
    plan = plan_shards(sources, cfg.sources_per_shard)
    todo = {n: s for n, s in plan.items() if not (out / "shards" / f"{n}.json").exists()}
    log(f"{len(sources)} sources in {len(plan)} shards; {len(plan) - len(todo)} already built, {len(todo)} to build")
    if todo and workers > 1:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(min(workers, len(todo)), mp_context=mp.get_context("spawn"),
                                 initializer=_init_worker, initargs=(asdict(cfg),)) as pool:
            for r in pool.map(build_shard, [str(out)] * len(todo), list(todo), list(todo.values())):
                log(f"  {r.name}: {len(r.clips)} clips, {len(r.skipped)} skipped")
    elif todo:
        _init_worker(asdict(cfg))
        for name, rows in todo.items():
            r = build_shard(str(out), name, rows)
            log(f"  {r.name}: {len(r.clips)} clips, {len(r.skipped)} skipped")
    manifest = _assemble(out, plan, cfg, cid)
    atomic_text(out / "manifest.json", json.dumps(manifest, indent=1))
    return manifest


def _assemble(out: Path, plan: dict, cfg: DatasetConfig, cid: str) -> dict:
    clips, skipped, shards = [], [], []
    for name in plan:
        rec = json.loads((out / "shards" / f"{name}.json").read_text())
        clips += rec["clips"]
        skipped += rec["skipped"]
        if rec["clips"]:
            shards.append(name)
    videos = {s: {c["video"] for c in clips if c["split"] == s} for s in ("train", "val")}
    if videos["train"] & videos["val"]:  # cannot happen by construction; checked because it matters
        raise MelfoleyError(f"videos on both sides of the split: {sorted(videos['train'] & videos['val'])[:3]}")
    return {"format": FORMAT, "config": asdict(cfg), "config_id": cid, "shards": shards, "clips": clips,
            "skipped": skipped, "counts": {s: sum(c["split"] == s for c in clips) for s in ("train", "val")}}


# ---------------------------------------------------------------------------- reading
def load_manifest(root: str | Path) -> dict:
    p = Path(root) / "manifest.json"
    if not p.exists():
        raise MelfoleyError(f"{root} holds no dataset (no manifest.json); build one with "
                            "`melfoley dataset build SRC -o DIR`")
    m = json.loads(p.read_text())
    if m.get("format") != FORMAT:
        raise MelfoleyError(f"{p} is not a melfoley paper dataset ({m.get('format')!r}); rebuild it")
    return m


class ClipDataset:
    """The clips of one split as dicts of tensors (memory-mapped from the shards); ``index`` included."""

    def __init__(self, root: str | Path, split: str = "train"):
        self.root = Path(root)
        self.manifest = load_manifest(self.root)
        self.clips = [c for c in self.manifest["clips"] if c["split"] == split]
        self.split = split
        if not self.clips:
            raise MelfoleyError(f"{self.root} has no {split} clips ({self.manifest['counts']}); build it from more "
                                "videos or change val_fraction")
        self._files: dict = {}

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, i: int) -> dict:
        from safetensors import safe_open

        c = self.clips[i]
        f = self._files.get(c["shard"])
        if f is None:
            f = self._files[c["shard"]] = safe_open(str(self.root / "shards" / f"{c['shard']}.safetensors"), "pt")
        prefix = f"{c['index']}."
        out = {k[len(prefix):]: f.get_tensor(k) for k in f.keys() if k.startswith(prefix)}
        out = {k: (v.float() if v.dtype == __import__("torch").float16 else v) for k, v in out.items()}
        out["codes"] = out["codes"].long()
        out["index"] = i
        out["label"] = c["label"]
        return out

    def __getstate__(self):  # DataLoader workers open their own memory maps
        return {**self.__dict__, "_files": {}}


def collate(items: list[dict]) -> dict:
    import torch

    out = {k: torch.stack([it[k] for it in items]) for k in items[0] if k != "label" and k != "index"}
    out["index"] = torch.tensor([it["index"] for it in items])
    out["label"] = [it["label"] for it in items]
    return out


def with_overrides(cfg: DatasetConfig, **kw) -> DatasetConfig:
    return replace(cfg, **{k: v for k, v in kw.items() if v is not None})
