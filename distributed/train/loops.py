"""Per-worker Ray Train loops (one per model): DDP via ``prepare_model``, data from the worker's shard,
a checkpoint every epoch, resume from ``ray.train.get_checkpoint()`` with the loss history carried on."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import ray.train
import ray.train.torch
import torch
import torch.distributed as dist
from torch import Tensor, nn

from talkingface.emotion.data import WindowSet
from talkingface.emotion.heads import build_head, head_config
from talkingface.emotion.train import head_loss, mean_loss, train_epoch
from talkingface.models.expnet import ExpNet
from talkingface.models.posevae import Audio2Pose
from talkingface.training.expnet import expnet_forward, expnet_loss
from talkingface.training.posevae import PoseGenerator, discriminator_loss, generator_loss
from talkingface.training.state import load_state, save_state

CRASH_GAP_S = 5.0  # the controller registers a reported checkpoint within ~2 s (ray.md A2)


@dataclass
class Rows:
    """A batch of named tensors (``len`` = rows), the unit ``train_epoch`` iterates."""

    data: dict[str, Tensor]

    def __len__(self) -> int:
        return len(next(iter(self.data.values())))


def batches(name: str, cfg: dict, epoch: int | None) -> Iterator[Rows]:
    """Minibatches of this worker's shard of dataset ``name`` (train and val are split over the workers);
    shuffled (seeded per epoch) when given one."""
    shuffle = {}
    if epoch is not None:
        shuffle = {
            "local_shuffle_buffer_size": cfg["shuffle_buffer"],
            "local_shuffle_seed": cfg["seed"] + epoch,
        }
    shard = ray.train.get_dataset_shard(name)
    device = ray.train.torch.get_device()
    for batch in shard.iter_torch_batches(batch_size=cfg["batch_size"], device=device, **shuffle):
        yield Rows(batch)


def global_mean(value: float, count: int) -> float:
    """The example-weighted mean of ``value`` over all workers (each holding ``count`` examples)."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return value
    t = torch.tensor([value * count, float(count)], dtype=torch.float64)
    dist.all_reduce(t)
    return (t[0] / t[1].clamp_min(1)).item()


def global_sum(count: int) -> int:
    """``count`` summed over all workers."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return count
    t = torch.tensor([count], dtype=torch.float64)
    dist.all_reduce(t)
    return int(t.item())


def maybe_crash(cfg: dict, epoch: int) -> None:
    """Test-only: the last worker exits hard at the start of ``crash_at_epoch``, once per marker file."""
    ctx = ray.train.get_context()
    marker = cfg.get("crash_marker")
    if cfg.get("crash_at_epoch") != epoch or ctx.get_world_rank() != ctx.get_world_size() - 1:
        return
    if os.path.exists(marker):
        return
    with open(marker, "w") as f:
        f.write(f"crashed at epoch {epoch}\n")
    time.sleep(CRASH_GAP_S)
    os._exit(1)


def run_epochs(
    cfg: dict,
    modules: dict[str, nn.Module],
    optimizers: dict[str, torch.optim.Optimizer],
    epoch_fn: Callable[[int], dict[str, float]],
) -> None:
    """Resume from the latest checkpoint if any, then per epoch: train, report metrics + checkpoint."""
    history: list[dict] = []
    start = 0
    checkpoint = ray.train.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as directory:
            meta = load_state(directory, modules, optimizers)
        start, history = meta["epoch"] + 1, meta["history"]
    rank = ray.train.get_context().get_world_rank()
    for epoch in range(start, cfg["epochs"]):
        maybe_crash(cfg, epoch)
        began = time.perf_counter()
        metrics = {"epoch": epoch, **epoch_fn(epoch), "resumed_at": start}
        metrics["seconds"] = time.perf_counter() - began
        history.append(metrics)
        with tempfile.TemporaryDirectory() as tmp:
            ckpt = None
            if rank == 0:
                save_state(tmp, modules, optimizers, {"epoch": epoch, "history": history})
                ckpt = ray.train.Checkpoint.from_directory(tmp)
            ray.train.report(metrics, checkpoint=ckpt)


def _optimizer(model: nn.Module, cfg: dict) -> torch.optim.AdamW:
    params = [p for p in model.parameters() if p.requires_grad]
    return torch.optim.AdamW(params, lr=cfg["lr"], weight_decay=cfg["weight_decay"])


def _unwrap(model: nn.Module) -> nn.Module:
    return getattr(model, "module", model)


def head_loop(cfg: dict) -> None:
    """Emotion head: MSE of the head's output vs the video beta of each window's last frame."""
    torch.manual_seed(cfg["seed"])
    config = head_config(cfg["head"], frame_len=cfg["frame_len"], **(cfg["head_options"] or {}))
    model = ray.train.torch.prepare_model(build_head(config))
    raw = _unwrap(model)
    optimizer = _optimizer(raw, cfg)

    def as_windows(rows: Rows) -> WindowSet:
        d = rows.data
        return WindowSet(d["window"], d["target"], d["emotion"], d["intensity"])

    def loss_fn(m: nn.Module, batch: WindowSet) -> Tensor:
        return head_loss(m, batch)

    def epoch_fn(epoch: int) -> dict[str, float]:
        examples = [0]

        def counted() -> Iterator[WindowSet]:
            for rows in batches("train", cfg, epoch):
                examples[0] += len(rows)
                yield as_windows(rows)

        train = train_epoch(model, optimizer, counted(), loss_fn, cfg["max_grad_norm"])
        val_batches = [as_windows(r) for r in batches("val", cfg, None)]
        n_val = sum(len(b) for b in val_batches)
        val = mean_loss(raw, val_batches, loss_fn)
        identity = sum(
            nn.functional.mse_loss(b.windows[:, -1], b.targets).item() * len(b) for b in val_batches
        ) / max(n_val, 1)
        return {
            "train_loss": global_mean(train, examples[0]),
            "samples": global_sum(examples[0]),
            "val_loss": global_mean(val, n_val),
            "val_identity_loss": global_mean(identity, n_val),
        }

    run_epochs(cfg, {"model": raw}, {"model": optimizer}, epoch_fn)


def _expnet_loss(cfg: dict) -> Callable[[nn.Module, Rows], Tensor]:
    def loss_fn(m: nn.Module, rows: Rows) -> Tensor:
        d = rows.data
        return expnet_loss(expnet_forward(m, d["mels"], d["ref"]), d["target"], cfg["temporal_weight"])

    return loss_fn


def expnet_loop(cfg: dict) -> None:
    """ExpNet: L1 on exp + temporal L1, from scratch or from the official weights (``init_state``)."""
    torch.manual_seed(cfg["seed"])
    net = ExpNet()
    if cfg.get("init_state") is not None:
        net.load_state_dict({k: torch.from_numpy(v) for k, v in cfg["init_state"].items()})
    model = ray.train.torch.prepare_model(net)
    raw = _unwrap(model)
    optimizer = _optimizer(raw, cfg)
    loss_fn = _expnet_loss(cfg)

    def epoch_fn(epoch: int) -> dict[str, float]:
        examples = [0]

        def counted() -> Iterator[Rows]:
            for rows in batches("train", cfg, epoch):
                examples[0] += len(rows)
                yield rows

        train = train_epoch(model, optimizer, counted(), loss_fn, cfg["max_grad_norm"])
        val_batches = list(batches("val", cfg, None))
        val = mean_loss(raw, val_batches, loss_fn)
        n_val = sum(len(b) for b in val_batches)
        return {
            "train_loss": global_mean(train, examples[0]),
            "samples": global_sum(examples[0]),
            "val_loss": global_mean(val, n_val),
        }

    run_epochs(cfg, {"model": raw}, {"model": optimizer}, epoch_fn)


def posevae_loop(cfg: dict) -> None:
    """PoseVAE: CVAE (reconstruction + KL + adversarial) against the motion discriminator, alternating."""
    torch.manual_seed(cfg["seed"])
    posevae = Audio2Pose()
    if cfg.get("init_state") is not None:
        posevae.load_state_dict({k: torch.from_numpy(v) for k, v in cfg["init_state"].items()})
    generator = ray.train.torch.prepare_model(PoseGenerator(posevae))
    discriminator = ray.train.torch.prepare_model(posevae.netD_motion)
    opt_g, opt_d = _optimizer(_unwrap(generator), cfg), _optimizer(_unwrap(discriminator), cfg)

    def step(rows: Rows) -> dict[str, float]:
        d = rows.data
        recon, mu, logvar = generator(d["mels"], d["ref"], d["motion"], d["cls"])
        loss, parts = generator_loss(
            recon, d["motion"], mu, logvar, discriminator(recon), cfg["kl_weight"], cfg["adv_weight"]
        )
        opt_g.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(generator.parameters(), cfg["max_grad_norm"])
        opt_g.step()
        logits = discriminator(torch.cat([d["motion"], recon.detach()]))
        d_loss = discriminator_loss(logits, len(rows))
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        return {"loss": loss.item(), **parts, "d_loss": d_loss.item()}

    def epoch_fn(epoch: int) -> dict[str, float]:
        generator.train()
        discriminator.train()
        sums: dict[str, float] = {}
        count = 0
        for rows in batches("train", cfg, epoch):
            for key, value in step(rows).items():
                sums[key] = sums.get(key, 0.0) + value * len(rows)
            count += len(rows)
        train = {f"train_{k}": global_mean(v / max(count, 1), count) for k, v in sorted(sums.items())}
        generator.eval()
        total, n = 0.0, 0
        with torch.no_grad():
            for rows in batches("val", cfg, None):
                d = rows.data
                recon, _, _ = _unwrap(generator)(d["mels"], d["ref"], d["motion"], d["cls"])
                total += nn.functional.mse_loss(recon, d["motion"]).item() * len(rows)
                n += len(rows)
        val = global_mean(total / n if n else 0.0, n)
        return {"train_loss": train["train_loss"], **train, "samples": global_sum(count), "val_loss": val}

    run_epochs(cfg, {"posevae": posevae}, {"generator": opt_g, "discriminator": opt_d}, epoch_fn)


LOOPS: dict[str, Callable[[dict], None]] = {"head": head_loop, "expnet": expnet_loop, "posevae": posevae_loop}
