"""Benchmark the paper pipeline: full-size architecture, random weights, seconds per 10 s clip.

    python bench/gpu_pipeline.py                 # on a CUDA GPU: the full matrix below
    python bench/gpu_pipeline.py --tiny          # CPU smoke run of the same code path (tiny preset)
    python bench/gpu_pipeline.py --meta          # CPU: full-size shapes only (meta tensors, no compute)

Matrix (each selectable): dtype fp16/bf16 x eager/torch.compile x (DPM-Solver++ 25 steps,
PNDM 100 steps) x 1 clip / 8 clips batched. torch.compile uses mode "reduce-overhead" (CUDA
graphs) on the UNet and the ControlNet, with the ControlNet residuals cloned between graph
replays (``PipelineConfig.clone_residuals``); compile time is reported separately and the
inductor cache (``--cache-dir``) makes it a once-per-machine cost. Every compiled run is
checked against the eager audio of the same seed (max abs difference printed), so the
speed-up does not change what the model computes. Also: VRAM peak, the decode share
(VAE + vocoder), and the floor implied by one guided step's FLOPs.
Timings are printed, never asserted.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from melfoley.core.control import QCDControl  # noqa: E402


def random_control(frames: int, seed: int) -> QCDControl:
    rng = np.random.default_rng(seed)
    e = np.clip(0.3 + 0.2 * np.sin(np.arange(frames) / 15.0) + 0.05 * rng.standard_normal(frames), 0, 1)
    return QCDControl(e, rng.uniform(0.02, 0.2, frames), rng.integers(0, 81, (2, frames)))


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def run_once(pipe, controls, scheduler, steps, seed=0):
    gens = [torch.Generator().manual_seed(seed + i) for i in range(len(controls))]
    return pipe(controls, "footsteps on gravel", scheduler=scheduler, num_inference_steps=steps,
                generator=gens, batch_size=len(controls))


def timed(pipe, controls, scheduler, steps, repeats):
    device = pipe.device
    run_once(pipe, controls, scheduler, steps)  # warm-up (and, compiled, graph capture)
    sync(device)
    t0 = time.perf_counter()
    for _ in range(repeats):
        out = run_once(pipe, controls, scheduler, steps)
    sync(device)
    return (time.perf_counter() - t0) / repeats, out


def decode_time(pipe, batch, repeats):
    f = 2 ** (len(pipe.vae.config.block_out_channels) - 1)
    lat = torch.randn(batch, 4, 256 // f, pipe.config.window_frames // f, device=pipe.device, dtype=pipe.dtype)
    with torch.no_grad():
        pipe.decode(lat)
        sync(pipe.device)
        t0 = time.perf_counter()
        for _ in range(repeats):
            pipe.decode(lat)
        sync(pipe.device)
    return (time.perf_counter() - t0) / repeats / batch


def compile_pipe(pipe):
    pipe.unet = torch.compile(pipe.unet, mode="reduce-overhead", fullgraph=True)
    pipe.controlnet = torch.compile(pipe.controlnet, mode="reduce-overhead", fullgraph=True)
    pipe.config = dataclasses.replace(pipe.config, clone_residuals=True)
    return pipe


def build(preset, device, dtype, channels_last, fuse_qkv=False):
    from melfoley.core.paper.tiny import build_pipeline

    pipe = build_pipeline(preset, seed=0).to(device, dtype)
    if fuse_qkv:  # one matmul for q, k, v of self-attention: the same math, fewer kernels
        pipe.unet.fuse_qkv_projections()
        pipe.controlnet.fuse_qkv_projections()
    if channels_last:
        for m in (pipe.unet, pipe.controlnet, pipe.vae):
            m.to(memory_format=torch.channels_last)
    return pipe


def meta_check():
    """Full-size shapes through every stage on meta tensors (no memory, no compute)."""
    from melfoley.core.paper.pipeline import MelQCDPipeline
    from melfoley.core.paper.tiny import build_components

    with torch.device("meta"):
        pipe = MelQCDPipeline(**build_components("full"))
    for name, m in pipe.modules().items():
        print(f"{name:<13} {sum(p.numel() for p in m.parameters()) / 1e6:8.1f} M parameters")
    dev = torch.device("meta")
    text = torch.zeros(2, 77, 768, device=dev)
    mom = pipe.vae.encoder(torch.zeros(1, 3, 256, 1024, device=dev))
    x = torch.zeros(2, 4, 32, 128, device=dev)
    down, mid = pipe.controlnet(x, torch.tensor(10, device=dev), encoder_hidden_states=text,
                                controlnet_cond=torch.cat([mom, mom]), return_dict=False)
    eps = pipe.unet(x, torch.tensor(10, device=dev), encoder_hidden_states=text,
                    down_block_additional_residuals=down, mid_block_additional_residual=mid).sample
    audio = pipe.vocoder(torch.zeros(1, 256, 1024, device=dev))
    print(f"moments {tuple(mom.shape)}  skips {len(down)}  eps {tuple(eps.shape)}  audio {tuple(audio.shape)}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tiny", action="store_true", help="tiny preset on the CPU (smoke run)")
    ap.add_argument("--meta", action="store_true", help="full-size shape check on meta tensors, then exit")
    ap.add_argument("--dtypes", default="fp16,bf16")
    ap.add_argument("--runs", default="dpm++:25,pndm:100", help="scheduler:steps list")
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--compile", default=None, help="off, on or off,on (default: off,on on a GPU, off with --tiny)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--channels-last", action="store_true", help="channels_last memory format (same math)")
    ap.add_argument("--fuse-qkv", action="store_true", help="fused q/k/v projections (same math)")
    ap.add_argument("--cache-dir", default=None, help="inductor cache folder (compile once per machine)")
    ap.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = ap.parse_args(argv)
    if args.meta:
        meta_check()
        return 0
    if args.cache_dir:
        os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", args.cache_dir)
        os.environ.setdefault("TORCHINDUCTOR_FX_GRAPH_CACHE", "1")
    if args.tiny:
        device, preset, dtypes = torch.device("cpu"), "tiny", ["fp32"]
        runs, batches, repeats = [("dpm++", 2), ("pndm", 2)], [1, 2], 1
        compiles = (args.compile or "off").split(",")
        torch.set_num_threads(1)
    else:
        if not torch.cuda.is_available():
            print("no CUDA GPU here: run with --tiny for a CPU smoke run, or --meta for a shape check")
            return 2
        device, preset, dtypes = torch.device("cuda"), "full", args.dtypes.split(",")
        runs = [(r.split(":")[0], int(r.split(":")[1])) for r in args.runs.split(",")]
        batches, repeats = [int(b) for b in args.batches.split(",")], args.repeats
        compiles = (args.compile or "off,on").split(",")
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        print(torch.cuda.get_device_name(0), "| torch", torch.__version__)
    rows = []
    dt = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}
    print(f"{'dtype':<6}{'mode':<9}{'sched':<7}{'steps':>6}{'clips':>6}{'s/clip':>9}{'decode':>8}{'VRAM GB':>9}"
          f"{'compile s':>11}{'max|diff|':>11}")
    for name in dtypes:
        pipe = build(preset, device, dt[name], args.channels_last, args.fuse_qkv)
        wf = pipe.config.window_frames
        clip_frames = min(1000, wf)  # 10 s (one window) at full size, one window at tiny size
        ref = {}
        for mode in compiles:
            compile_s = 0.0
            if mode == "on":
                pipe = compile_pipe(pipe)
            for sched, steps in runs:
                for b in batches:
                    controls = [random_control(clip_frames, i) for i in range(b)]
                    if device.type == "cuda":
                        torch.cuda.reset_peak_memory_stats()
                    if mode == "on":
                        t0 = time.perf_counter()
                        run_once(pipe, controls, sched, steps)
                        sync(device)
                        compile_s = time.perf_counter() - t0
                    sec, out = timed(pipe, controls, sched, steps, repeats)
                    key = (sched, steps, b)
                    diff = "" if key not in ref or mode == "off" else \
                        f"{max(np.abs(a - r).max() for a, r in zip(out.audio, ref[key])):.2e}"
                    if mode == "off":
                        ref[key] = out.audio
                    vram = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else float("nan")
                    dec = decode_time(pipe, b, repeats)
                    rows.append({"dtype": name, "mode": "compile" if mode == "on" else "eager", "scheduler": sched,
                                 "steps": steps, "clips": b, "s_per_clip": sec / b, "decode_s_per_clip": dec,
                                 "vram_gb": vram if device.type == "cuda" else None, "compile_s": compile_s,
                                 "max_abs_diff_vs_eager": float(diff) if diff else None})
                    print(f"{name:<6}{'compile' if mode == 'on' else 'eager':<9}{sched:<7}{steps:>6}{b:>6}"
                          f"{sec / b:>9.3f}{dec:>8.3f}{vram:>9.2f}{compile_s:>11.1f}{diff:>11}", flush=True)
        del pipe
        if device.type == "cuda":
            torch.cuda.empty_cache()
    print("s/clip: wall seconds per clip of", "10 s" if not args.tiny else "1.28 s (tiny window)",
          "audio, whole pipeline (prompt, control, denoise, decode, vocoder); decode: VAE + vocoder share.")
    print("Floor: one guided step is 2.16 TFLOP (UNet + ControlNet, 2 branches) -> ~0.07 s per clip at 25 steps.")
    if args.json:
        write_json(args.json, "gpu_pipeline", device, rows, clip_seconds=clip_frames / 100)
    return 0


def write_json(path, bench: str, device, rows: list[dict], **extra) -> None:
    """The figures of one bench run with what ran them (shared with bench/train_throughput.py)."""
    import json

    meta = {"bench": bench, "device": torch.cuda.get_device_name(0) if device.type == "cuda" else "cpu",
            "torch": torch.__version__, **extra}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps({**meta, "rows": rows}, indent=1))


if __name__ == "__main__":
    sys.exit(main())
