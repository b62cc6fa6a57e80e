#!/usr/bin/env python3
"""Training throughput of the search children in PyTorch, the baseline for `host/benches/train.rs`.

Same networks as the Rust side (the spec's worked example of each space: stride-1 valid conv2d /
conv1d / dense layers with ReLU, no conv bias, global average pooling, dense head), the same
input layout (HWC batches permuted inside the model), Glorot-uniform initialisation, Adam
(lr 1e-3, eps 1e-7), the paper's batch sizes, and the same epoch loop as `inas::train::fit`:
a fresh permutation per epoch, index_select batches, cross-entropy, zero_grad/backward/step,
loss and hit counts accumulated as tensors and read once per epoch. Validation is left out of
the timing, as in the Rust bench. `--clock cpu` measures process CPU time instead of wall time
(for a busy machine; use one thread on both sides then).

Needs `pip install torch==2.13.0` (the libtorch version tch 0.26 links). Run with the thread
count and OMP_WAIT_POLICY the Rust bench runs with, e.g.
    OMP_WAIT_POLICY=PASSIVE python scripts/bench_train_pytorch.py --threads 2
"""

import argparse
import json
import statistics
import sys
import time

import torch
from torch import nn

# (input HWC, [(kind, k, filters)], classes, batch, batches per epoch). Mirrors host/benches/train.rs.
CASES = {
    "har": ((128, 1, 9), [("conv1d", 5, 4), ("conv1d", 5, 16), ("conv1d", 5, 24)], 6, 512, 8),
    "cifar": ((32, 32, 3), [("conv2d", 3, 8), ("conv2d", 5, 24), ("conv2d", 3, 24), ("conv2d", 5, 16),
                            ("conv2d", 5, 16)], 10, 256, 4),
    "kws": ((250, 1, 1), [("dense", None, 48), ("dense", None, 128), ("dense", None, 48),
                          ("dense", None, 128)], 12, 100, 40),
}


class Child(nn.Module):
    def __init__(self, shape, layers, classes):
        super().__init__()
        h, w, c = shape
        self.kind = layers[0][0]
        mods = []
        n = c if self.kind != "dense" else h * w * c
        for kind, k, f in layers:
            if kind == "conv2d":
                mods.append(nn.Conv2d(n, f, k, bias=False))
            elif kind == "conv1d":
                mods.append(nn.Conv1d(n, f, k, bias=False))
            else:
                mods.append(nn.Linear(n, f))
            n = f
        self.body = nn.ModuleList(mods)
        self.head = nn.Linear(n, classes)
        for m in self.modules():
            if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(m.weight)  # Keras' glorot_uniform, fans include the taps
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, x):  # x: [B, H, W, C]
        if self.kind == "conv2d":
            x = x.permute(0, 3, 1, 2)
        elif self.kind == "conv1d":
            x = x.reshape(x.shape[0], x.shape[1], x.shape[3]).permute(0, 2, 1)
        else:
            x = x.reshape(x.shape[0], -1)
        for m in self.body:
            x = torch.relu(m(x))
        if self.kind != "dense":
            x = x.mean(dim=tuple(range(2, x.dim())))
        return self.head(x)


def bench(name, epochs, seed, clock):
    shape, layers, classes, batch, batches = CASES[name]
    n = batch * batches
    torch.manual_seed(seed)
    x = torch.rand((n, *shape)) * 2 - 1
    y = torch.arange(n) % classes
    model = Child(shape, layers, classes)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    loss_fn = nn.CrossEntropyLoss()
    rates = []
    for epoch in range(epochs + 1):  # epoch 0 warms up
        t0 = clock()
        perm = torch.randperm(n)
        loss_sum = torch.zeros((), dtype=torch.float64)
        hits = torch.zeros((), dtype=torch.int64)
        for start in range(0, n, batch):
            idx = perm[start:start + batch]
            xb, yb = x.index_select(0, idx), y.index_select(0, idx)
            logits = model(xb)
            loss = loss_fn(logits, yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            with torch.no_grad():
                loss_sum += loss.double() * len(idx)
                hits += (logits.argmax(-1) == yb).sum()
        float(loss_sum), int(hits)
        dt = clock() - t0
        if epoch > 0:
            rates.append(n / dt)
    return {
        "case": name,
        "samples_per_epoch": n,
        "batch": batch,
        "epochs": epochs,
        "samples_per_s_median": statistics.median(rates),
        "samples_per_s_mean": statistics.fmean(rates),
        "s_per_epoch_median": n / statistics.median(rates),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", choices=[*CASES, "all"], default="all")
    ap.add_argument("--epochs", type=int, default=10, help="timed epochs per case (after one warm-up)")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                    help="wall time, or this process's CPU time (INAS_BENCH_CLOCK=cpu on the Rust side)")
    ap.add_argument("--json", action="store_true", help="one JSON object per case")
    a = ap.parse_args()
    if a.epochs < 1:
        ap.error("--epochs must be at least 1")
    if a.threads is not None:
        if a.threads < 1:
            ap.error("--threads must be at least 1")
        torch.set_num_threads(a.threads)
    cases = list(CASES) if a.case == "all" else [a.case]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads", file=sys.stderr)
    for name in cases:
        clock = time.perf_counter if a.clock == "wall" else time.process_time
        r = bench(name, a.epochs, a.seed, clock)
        r["clock"] = a.clock
        r["threads"] = torch.get_num_threads()
        r["torch"] = torch.__version__
        if a.json:
            print(json.dumps(r))
        else:
            print(f"{name:6} batch {r['batch']:4}  {r['samples_per_s_median']:9.0f} samples/s "
                  f"(median of {a.epochs} epochs of {r['samples_per_epoch']}; "
                  f"{r['s_per_epoch_median']:.3f} s/epoch)")


if __name__ == "__main__":
    main()
