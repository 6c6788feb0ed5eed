"""Benchmark ControlNet training throughput: samples/s per GPU and peak VRAM, through the real trainer.

    python bench/train_throughput.py                # on a CUDA GPU: full-size random weights, bf16,
                                                    # batch 8 and 16, gradient checkpointing off and on
    python bench/train_throughput.py --tiny         # CPU smoke run of the same code path (tiny-train preset)

Each configuration is a real ``melfoley.core.paper.trainer.train`` run (ControlNet over the frozen
UNet, VAE and text encoder; accelerate mixed precision) on a synthetic dataset written in the
dataset format (10.24 s clips of shaped noise, their real mel and QCD targets). The step times
come from the trainer's ``log.csv`` (``seconds``, validation and checkpoints excluded); the first
``--warmup`` steps are dropped and the median is reported. An out-of-memory configuration is
reported as such. Timings are printed, never asserted.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]

import numpy as np  # noqa: E402
import torch  # noqa: E402


def synthetic_dataset(out: Path, clips: int, seconds: float, seed: int = 0) -> Path:
    """``clips`` clips of enveloped noise in the dataset format (train split), with real mel / QCD targets."""
    from melfoley.core import qcd
    from melfoley.core.audio import peak_normalise
    from melfoley.core.mel import log_mel
    from melfoley.core.paper.dataset import DatasetConfig, _assemble, write_shard

    rng = np.random.default_rng(seed)
    n = int(round(seconds * 16000))
    records, tensors = [], []
    for k in range(clips):
        env = np.repeat(rng.uniform(0, 1, n // 1600 + 1) ** 3, 1600)[:n]
        wave = peak_normalise((rng.standard_normal(n) * env).astype(np.float32))
        mel = log_mel(wave, "auffusion16k")
        e, d, s = qcd.decompose(mel, "auffusion16k")
        frames = int(round(seconds * 25))
        tensors.append({"audio": torch.from_numpy(wave), "mel": mel.half(), "energy": e.float(), "spread": d.float(),
                        "codes": qcd.encode(s).to(torch.uint8), "features": torch.zeros(frames, 8)})
        records.append({"video": f"synthetic-{k}", "audio": "", "label": "footsteps", "start": 0.0,
                        "duration": seconds, "split": "train"})
    write_shard(out, "train-00000", records, tensors)
    cfg = DatasetConfig(clip_seconds=seconds)
    import json

    from melfoley.core.paper.dataset import FORMAT

    manifest = _assemble(out, {"train-00000": []}, cfg, "synthetic")
    (out / "manifest.json").write_text(json.dumps({**manifest, "format": FORMAT, "config": asdict(cfg)}))
    return out


def base_folder(out: Path, preset: str) -> Path:
    from melfoley.core.paper.tiny import build_pipeline
    from melfoley.core.paper.weights import save_pipeline

    return save_pipeline(build_pipeline(preset, seed=0), out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tiny", action="store_true", help="tiny-train preset on the CPU (smoke run)")
    ap.add_argument("--batches", default=None, help="per-GPU batch sizes (default 8,16; --tiny: 2)")
    ap.add_argument("--checkpointing", default="off,on")
    ap.add_argument("--precision", default="bf16", help="no | fp16 | bf16 (GPU)")
    ap.add_argument("--steps", type=int, default=None, help="steps per configuration (default 12; --tiny: 3)")
    ap.add_argument("--warmup", type=int, default=None, help="steps dropped from the median (default 2; --tiny: 1)")
    ap.add_argument("--work", default=None, help="folder for the synthetic data and base weights (default: temp)")
    ap.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = ap.parse_args(argv)
    from melfoley.core.paper.train_config import TrainConfig
    from melfoley.core.paper.trainer import read_log, train

    if args.tiny:
        torch.set_num_threads(1)
        preset, seconds, precision = "tiny-train", 1.28, "no"
        batches = [int(b) for b in (args.batches or "2").split(",")]
        steps, warm = args.steps or 3, args.warmup if args.warmup is not None else 1
    else:
        if not torch.cuda.is_available():
            print("no CUDA GPU here: run with --tiny for a CPU smoke run")
            return 2
        preset, seconds, precision = "full", 10.24, args.precision
        batches = [int(b) for b in (args.batches or "8,16").split(",")]
        steps, warm = args.steps or 12, args.warmup if args.warmup is not None else 2
        print(torch.cuda.get_device_name(0), "| torch", torch.__version__, "| precision", precision)
    work = Path(args.work or tempfile.mkdtemp(prefix="melfoley-train-bench-"))
    data = synthetic_dataset(work / "data", max(batches), seconds)
    base = base_folder(work / "base", preset)
    rows = []
    print(f"{'batch':>6}{'ckpt':>6}{'s/step':>9}{'samples/s':>11}{'VRAM GB':>9}")
    for b in batches:
        for ck in args.checkpointing.split(","):
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats()
            out = work / f"run-b{b}-{ck}"
            cfg = TrainConfig(dataset=str(data), out=str(out), part="controlnet", base=str(base), steps=steps,
                              batch_size=b, mixed_precision=precision, gradient_checkpointing=ck == "on",
                              checkpoint_every=0, validate_every=0, log_every=10**9)
            try:
                train(cfg, log=lambda *a: None)
            except torch.cuda.OutOfMemoryError:
                print(f"{b:>6}{ck:>6}{'out of memory':>29}", flush=True)
                rows.append({"batch": b, "checkpointing": ck, "out_of_memory": True})
                continue
            secs = [r["seconds"] for r in read_log(out / "log.csv")][warm:]
            med = float(np.median(secs))
            vram = torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else float("nan")
            print(f"{b:>6}{ck:>6}{med:>9.3f}{b / med:>11.2f}{vram:>9.2f}", flush=True)
            rows.append({"batch": b, "checkpointing": ck, "s_per_step": med, "samples_per_s": b / med,
                         "vram_gb": vram if torch.cuda.is_available() else None, "out_of_memory": False})
    print(f"clips of {seconds} s ({'tiny-train preset, CPU' if args.tiny else 'full-size random weights'}); "
          "samples/s per process = batch / median step time; VRAM = peak allocated.")
    if args.json:
        from gpu_pipeline import write_json

        write_json(args.json, "train_throughput", torch.device("cuda" if torch.cuda.is_available() and not args.tiny
                                                               else "cpu"), rows, clip_seconds=seconds,
                   precision=precision, preset=preset, steps=steps, warmup_steps_dropped=warm)
    return 0


if __name__ == "__main__":
    sys.exit(main())
