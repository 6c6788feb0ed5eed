"""One training loop for the paper tier's parts, on accelerate (CPU, one GPU, DDP: the same command).

``train(cfg)`` / ``melfoley train v2x|controlnet|adapter --config FILE [--resume]``; for several
GPUs (or CPU processes) ``accelerate launch --num_processes N -m melfoley train ...``.
- Data order is a pure function of (seed, micro-step): the clips of micro-step m are the
  next ``batch_size * processes`` of seeded epoch permutations, process p taking its slice,
  so N processes with batch b see exactly the batches of one process with batch N * b.
- Mixed precision (fp16 / bf16) through accelerate; frozen parts are cast to it on a GPU.
- Checkpoints (``checkpoints/step-N``: model, optimiser, lr schedule, RNG states) every
  ``checkpoint_every`` steps; ``--resume`` continues from the latest one and reproduces the
  uninterrupted run's loss curve.
- ``log.csv`` (step, loss, lr, parts, validation) and TensorBoard when it is installed;
  validation every ``validate_every`` steps on the val split (fixed noise per clip), and
  for the ControlNet / adapter a rendered sample with its control every ``sample_every``.
"""

from __future__ import annotations

import csv
import json
import math
import shutil
from pathlib import Path

import torch

from ..errors import MelfoleyError
from .train_config import TrainConfig


class BatchPlan:
    """Indices of this process's batch at each micro-step (seeded epoch permutations)."""

    def __init__(self, n: int, batch: int, processes: int, rank: int, seed: int, start: int = 0):
        self.n, self.batch, self.processes, self.rank, self.seed, self.start = n, batch, processes, rank, seed, start
        self._epoch, self._perm = -1, None

    def indices(self, micro: int) -> list[int]:
        g = self.batch * self.processes
        out = []
        for pos in range(micro * g + self.rank * self.batch, micro * g + (self.rank + 1) * self.batch):
            epoch, k = divmod(pos, self.n)
            if epoch != self._epoch:
                self._epoch = epoch
                self._perm = torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed + epoch))
            out.append(int(self._perm[k]))
        return out

    def __iter__(self):
        m = self.start
        while True:
            yield self.indices(m)
            m += 1


def lr_lambda(cfg: TrainConfig):
    warm = max(1, int(round(cfg.warmup * cfg.steps)))

    def f(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        if cfg.schedule == "constant":
            return 1.0
        return max(0.0, (cfg.steps - step) / max(1, cfg.steps - warm))

    return f


def latest_checkpoint(out: Path) -> Path | None:
    ck = sorted((out / "checkpoints").glob("step-*"), key=lambda p: int(p.name.split("-")[1]))
    return ck[-1] if ck else None


def _weight_dtype(acc) -> torch.dtype:
    if acc.device.type != "cuda":
        return torch.float32
    return {"fp16": torch.float16, "bf16": torch.bfloat16}.get(acc.mixed_precision, torch.float32)


def train(cfg: TrainConfig, *, resume: bool = False, stop_at: int | None = None, log=print) -> dict:
    """Train ``cfg.part``; returns {"step", "loss", "out"}. The trained part is saved in the weights layout.

    ``stop_at``: stop after that step with a checkpoint (a planned interruption; ``resume`` continues).
    """
    import importlib.util

    from accelerate import Accelerator
    from accelerate.utils import ProjectConfiguration, set_seed
    from torch.utils.data import DataLoader

    from .dataset import ClipDataset, collate
    from .train_parts import build_part, link_base

    out = Path(cfg.out)
    tb = importlib.util.find_spec("tensorboard") is not None
    from accelerate.state import AcceleratorState, GradientState

    # a second run in one process may use other settings (precision, accumulation): the process-wide
    # state is rebuilt, the distributed set-up (PartialState) is kept
    AcceleratorState._reset_state()
    GradientState._reset_state()
    # without CUDA, cpu=True makes a torchrun launch (`accelerate launch --multi_gpu --num_processes N`) MULTI_CPU/gloo
    acc = Accelerator(cpu=not torch.cuda.is_available(), mixed_precision=cfg.mixed_precision, gradient_accumulation_steps=cfg.grad_accum,
                      log_with="tensorboard" if tb else None,
                      project_config=ProjectConfiguration(project_dir=str(out), logging_dir=str(out / "logs")))
    set_seed(cfg.seed)
    train_set = ClipDataset(cfg.dataset, "train")
    try:
        val_set = ClipDataset(cfg.dataset, "val")
    except MelfoleyError:
        val_set = None
    part = build_part(cfg, train_set, acc.device, _weight_dtype(acc))
    model = part.trainable()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(cfg))
    model, opt = acc.prepare(model, opt)
    acc.register_for_checkpointing(sched)  # stepped once per optimiser step, whatever the process count
    step = 0
    ck = latest_checkpoint(out) if resume else None
    if resume and ck is None:
        log(f"no checkpoint in {out / 'checkpoints'}: starting from step 0")
    if ck is not None:
        acc.load_state(str(ck))
        step = int(json.loads((ck / "trainer_state.json").read_text())["step"])
        log(f"resumed from {ck} at step {step}")
    if acc.is_main_process:
        out.mkdir(parents=True, exist_ok=True)
        (out / "train_config.json").write_text(json.dumps(cfg.__dict__, indent=1, default=str))
        if tb:
            acc.init_trackers("melfoley", config={k: v for k, v in cfg.__dict__.items() if isinstance(v, (int, float, str, bool))})
    writer = _CsvLog(out / "log.csv", step, acc.is_main_process)
    val_log = _CsvLog(out / "val.csv", step, acc.is_main_process)
    plan = BatchPlan(len(train_set), cfg.batch_size, acc.num_processes, acc.process_index, cfg.seed,
                     start=step * cfg.grad_accum)
    loader = DataLoader(train_set, batch_sampler=plan, collate_fn=collate, num_workers=cfg.num_workers,
                        generator=torch.Generator().manual_seed(cfg.seed))  # its own RNG: resume stays exact
    micro = step * cfg.grad_accum
    last = {}
    model.train()
    import time

    tick = time.perf_counter()
    for batch in loader:
        if step >= min(cfg.steps, stop_at or cfg.steps):
            break
        with acc.accumulate(model):
            parts = part.loss(model, batch, micro)
            acc.backward(parts["loss"])
            if acc.sync_gradients and cfg.max_grad_norm:
                acc.clip_grad_norm_(params, cfg.max_grad_norm)
            opt.step()
            opt.zero_grad(set_to_none=True)
        micro += 1
        gathered = {k: float(acc.gather(v.detach().float().reshape(1)).mean()) for k, v in parts.items() if k != "batch"}
        for k, v in gathered.items():
            last[k] = last.get(k, 0.0) + v / cfg.grad_accum
        if not acc.sync_gradients:
            continue
        lr = sched.get_last_lr()[0]
        sched.step()
        step += 1
        if acc.device.type == "cuda":
            torch.cuda.synchronize()
        now = time.perf_counter()
        row = {"step": step, "lr": lr, **last, "seconds": now - tick}  # wall time of the step (throughput)
        last, tick = {}, now
        writer.write(row)
        vrow = {}
        if cfg.validate_every and step % cfg.validate_every == 0 and val_set is not None:
            vrow.update(validate(part, model, val_set, cfg, acc))
        if cfg.sample_every and step % cfg.sample_every == 0 and val_set is not None and hasattr(part, "sample") \
                and acc.is_main_process:
            path = part.sample(acc.unwrap_model(model), collate([val_set[0]]), out / "samples" / f"step-{step:07d}.wav")
            vrow["sample"] = str(path.relative_to(out))
        if vrow:
            val_log.write({"step": step, **vrow})
        if tb:
            acc.log({k: v for k, v in {**row, **vrow}.items() if isinstance(v, float)}, step=step)
        if step % cfg.log_every == 0 or step == 1:
            log(f"step {step}/{cfg.steps}  loss {row['loss']:.4f}  lr {lr:.2e}")
        if (cfg.checkpoint_every and (step % cfg.checkpoint_every == 0 or step == cfg.steps)) or step == stop_at:
            save_checkpoint(acc, out, step, cfg.keep_checkpoints)
        tick = time.perf_counter()  # validation, samples and checkpoints are not counted in a step's time
    acc.wait_for_everyone()
    if acc.is_main_process:
        unwrapped = acc.unwrap_model(model)
        part.save(unwrapped, out, Path(cfg.dataset))
        link_base(Path(cfg.base) if cfg.base else None, out, tuple(part.trained))
    acc.end_training()
    return {"step": step, "loss": writer.last_loss, "out": str(out)}


@torch.no_grad()
def validate(part, model, val_set, cfg: TrainConfig, acc) -> dict:
    """Mean spec losses over up to ``val_batches`` batches of the val split (the same clips and noise each time)."""
    from .dataset import collate

    was = model.training
    model.eval()
    sums, n = {}, 0
    per = max(1, cfg.batch_size)
    order = list(range(len(val_set)))[: per * cfg.val_batches]
    mine = order[acc.process_index::acc.num_processes] or order[:1]
    for i in range(0, len(mine), per):
        batch = collate([val_set[j] for j in mine[i:i + per]])
        parts = part.loss(model, batch, step=-1)  # fixed noise per clip: step -1
        k = len(batch["index"])
        for name, v in parts.items():
            if name != "batch":
                sums[name] = sums.get(name, 0.0) + float(v) * k
        n += k
    model.train(was)
    vals = {f"val_{k}": v / max(n, 1) for k, v in sums.items()}
    return {k: float(acc.gather(torch.tensor([v], device=acc.device)).mean()) for k, v in vals.items()}


def save_checkpoint(acc, out: Path, step: int, keep: int) -> Path:
    path = out / "checkpoints" / f"step-{step:07d}"
    acc.save_state(str(path))
    if acc.is_main_process:
        (path / "trainer_state.json").write_text(json.dumps({"step": step}))
        old = sorted((out / "checkpoints").glob("step-*"))[:-keep] if keep else []
        for p in old:
            shutil.rmtree(p, ignore_errors=True)
    acc.wait_for_everyone()
    return path


class _CsvLog:
    """A CSV of one row per event, appended; on resume, rows after the checkpoint's step are dropped."""

    def __init__(self, path: Path, step: int, main: bool):
        self.path, self.main, self.last_loss = path, main, math.nan
        self.keys: list[str] | None = None
        if main and path.exists():
            with path.open(newline="") as fh:
                reader = csv.DictReader(fh)
                rows = [r for r in reader if int(r["step"]) <= step]
                self.keys = list(reader.fieldnames or []) or None
            tmp = path.with_suffix(".tmp")
            with tmp.open("w", newline="") as fh:
                if self.keys:
                    w = csv.DictWriter(fh, fieldnames=self.keys)
                    w.writeheader()
                    w.writerows(rows)
            tmp.replace(path)

    def write(self, row: dict) -> None:
        self.last_loss = row.get("loss", self.last_loss)
        if not self.main:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.keys is not None and any(k not in self.keys for k in row):  # a new column: widen the header
            with self.path.open(newline="") as fh:
                rows = list(csv.DictReader(fh))
            self.keys += [k for k in row if k not in self.keys]
            with self.path.open("w", newline="") as fh:
                w = csv.DictWriter(fh, fieldnames=self.keys)
                w.writeheader()
                w.writerows(rows)
        with self.path.open("a", newline="") as fh:
            if self.keys is None:
                self.keys = list(row)
                csv.DictWriter(fh, fieldnames=self.keys).writeheader()
            csv.DictWriter(fh, fieldnames=self.keys, extrasaction="ignore").writerow(row)


def read_log(path: str | Path) -> list[dict]:
    with Path(path).open(newline="") as fh:
        return [{k: (float(v) if k != "sample" and v not in ("", None) else v) for k, v in r.items()}
                for r in csv.DictReader(fh)]
