#!/usr/bin/env bash
# Every GPU figure of the paper tier in one run (issue 11 point 6), written to OUT/gpu_figures.{json,md}.
#
#   bench/gpu_all.sh [--out DIR] [--only pipeline|train] [--tiny] [--python PY]
#
# 1. bench/gpu_pipeline.py: full-size architecture, random weights; fp16 and bf16 x eager and
#    torch.compile x (DPM-Solver++ 25, PNDM 100 steps) x 1 and 8 clips batched: seconds per 10 s clip,
#    decode share, peak VRAM, compile time, max |compiled - eager| audio. Goals: <= 0.2 s for one clip and
#    <= 0.12 s per clip with 8 batched, DPM++ 25 steps (checked in the markdown).
# 2. bench/train_throughput.py: the real trainer, ControlNet over the frozen full-size base, bf16, batch 8
#    and 16 per GPU, gradient checkpointing off and on: samples/s per GPU and peak VRAM.
# --tiny runs both benches' CPU smoke paths instead (tests/test_paper_bench.py); without it and without a
# CUDA GPU the script stops at once. The inductor cache goes to OUT/inductor (compile once per machine).
# Not yet run on a GPU, so its duration is unmeasured (torch.compile dominates); --only splits it in two.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="bench-gpu-$(date -u +%Y%m%dT%H%M%SZ)"
only=""
tiny=""
py="${PYTHON:-}"
if [[ -z "$py" ]]; then
  if [[ -x "$here/../.venv/bin/python" ]]; then py="$here/../.venv/bin/python"; else py="python3"; fi
fi
usage() { sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --out) out="${2:?--out needs a folder}"; shift 2 ;;
    --only) only="${2:?--only needs pipeline or train}"; shift 2 ;;
    --tiny) tiny="--tiny"; shift ;;
    --python) py="${2:?--python needs an interpreter}"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "gpu_all.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
case "$only" in ""|pipeline|train) ;; *) echo "gpu_all.sh: --only takes pipeline or train, not '$only'" >&2; exit 2 ;; esac
if [[ -z "$tiny" ]] && ! "$py" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
  echo "gpu_all.sh: no CUDA GPU visible to $py; run on a GPU machine, or --tiny for the CPU smoke path" >&2
  exit 2
fi
mkdir -p "$out"
if [[ -z "$tiny" ]]; then nvidia-smi > "$out/nvidia-smi.txt" 2>&1 || true; fi
if [[ "$only" != train ]]; then
  "$py" "$here/gpu_pipeline.py" $tiny --cache-dir "$out/inductor" --json "$out/gpu_pipeline.json" \
    2>&1 | tee "$out/gpu_pipeline.log"
fi
if [[ "$only" != pipeline ]]; then
  "$py" "$here/train_throughput.py" $tiny --work "$out/train-work" --json "$out/train_throughput.json" \
    2>&1 | tee "$out/train_throughput.log"
  rm -rf "$out/train-work"
fi
"$py" - "$out" <<'EOF'
import json, sys
from pathlib import Path

out = Path(sys.argv[1])
figures, md = {}, ["# Paper-tier GPU figures", ""]
def fmt(v, spec):
    return "" if v is None else format(v, spec)
p = out / "gpu_pipeline.json"
if p.exists():
    d = figures["gpu_pipeline"] = json.loads(p.read_text())
    md += [f"## Inference (`bench/gpu_pipeline.py`): {d['device']}, torch {d['torch']}", "",
           f"Seconds per {d['clip_seconds']:g} s clip.", "",
           "| dtype | mode | scheduler | steps | clips | s/clip | decode s/clip | VRAM GB | compile s | max abs diff |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for r in d["rows"]:
        md.append(f"| {r['dtype']} | {r['mode']} | {r['scheduler']} | {r['steps']} | {r['clips']} | "
                  f"{r['s_per_clip']:.3f} | {r['decode_s_per_clip']:.3f} | {fmt(r['vram_gb'], '.2f')} | "
                  f"{r['compile_s']:.1f} | {fmt(r['max_abs_diff_vs_eager'], '.2e')} |")
    best = {}
    for r in d["rows"]:
        if r["scheduler"] == "dpm++" and r["steps"] == 25:
            best[r["clips"]] = min(best.get(r["clips"], float("inf")), r["s_per_clip"])
    goals = []
    for clips, goal in ((1, 0.2), (8, 0.12)):
        if clips in best:
            goals.append(f"{clips} clip(s), DPM++ 25: best {best[clips]:.3f} s/clip, goal <= {goal} s: "
                         f"{'met' if best[clips] <= goal else 'NOT met'}")
    figures["goals"] = goals
    md += [""] + [f"- {g}" for g in goals] + [""]
p = out / "train_throughput.json"
if p.exists():
    d = figures["train_throughput"] = json.loads(p.read_text())
    md += [f"## ControlNet training (`bench/train_throughput.py`): {d['device']}, torch {d['torch']}", "",
           f"{d['preset']} preset, {d['precision']}, {d['clip_seconds']:g} s clips, median of {d['steps']} steps "
           f"after {d['warmup_steps_dropped']} dropped.", "",
           "| batch per GPU | checkpointing | s/step | samples/s per GPU | peak VRAM GB |", "|---|---|---|---|---|"]
    for r in d["rows"]:
        if r["out_of_memory"]:
            md.append(f"| {r['batch']} | {r['checkpointing']} | out of memory | | |")
        else:
            md.append(f"| {r['batch']} | {r['checkpointing']} | {r['s_per_step']:.3f} | {r['samples_per_s']:.2f} | "
                      f"{fmt(r['vram_gb'], '.2f')} |")
    md.append("")
(out / "gpu_figures.json").write_text(json.dumps(figures, indent=1))
(out / "gpu_figures.md").write_text("\n".join(md))
print(f"figures: {out / 'gpu_figures.md'} and {out / 'gpu_figures.json'}")
EOF
