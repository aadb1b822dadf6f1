#!/usr/bin/python3
"""PyTorch peer of esp's benchmarks: the same models, batch, optimizer and steps.

Runs one measurement and prints one JSON line, so that bench/compare.sh can alternate
it with the Go side in one go. Single thread unless --threads says otherwise (on a
2-core machine PyTorch with 2 threads is erratic: OpenMP and OpenBLAS fight).

  torch_peer.py step --model mlp|lenet [--steps N] [--warmup N]
  torch_peer.py epoch --data-dir DIR    # one epoch of corrupted MNIST (130k examples), MLP
  torch_peer.py epoch --epochs 11 --eval --device cuda   # one run of the paper's MLP protocol on a GPU
  torch_peer.py epoch --runs 4 --epochs 11 --eval        # four runs of it, one after the other
                                                         # (accuracies and weight norms of the last)
  torch_peer.py matmul --product forward|weight-gradient [--steps N]   # one of the MLP's products
  torch_peer.py hvp --model mlp|lenet|resnet [--steps N] [--warmup N]   # one exact Hessian-vector product
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn


def mlp():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 10))


def lenet():
    # The authors' LeNet-like CNN: conv5x5 pad 2 with 16, 32, 64 filters, ReLU, 2x2 max-pool
    # after the first two convs, fc 84, fc 10 (no activation between the fc layers).
    return nn.Sequential(
        nn.Conv2d(1, 16, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(),
        nn.Flatten(), nn.Linear(64 * 7 * 7, 84), nn.Linear(84, 10))


class BasicBlock(nn.Module):
    """esp's ResNet block: conv3x3(stride)-BN-ReLU-conv3x3-BN plus a shortcut (identity, or
    conv1x1(stride)-BN where the shape changes), then ReLU; convolutions without bias."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
            nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout))
        self.shortcut = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, 0, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        return torch.relu(self.body(x) + self.shortcut(x))


def resnet(blocks=2, channels=3):
    # esp's default ResNet (models.Config{}): a conv3x3-BN-ReLU stem of 16 channels, stages
    # of 16, 32 and 64 channels (strides 1, 2, 2) of `blocks` blocks each, global average
    # pooling, fc 10.
    layers = [nn.Conv2d(channels, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU()]
    cin = 16
    for cout, stride in ((16, 1), (32, 2), (64, 2)):
        for b in range(blocks):
            layers.append(BasicBlock(cin, cout, stride if b == 0 else 1))
            cin = cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10)]
    return nn.Sequential(*layers)


MODELS = {"mlp": mlp, "lenet": lenet, "resnet": resnet}
# The images each model sees in the hvp mode: MNIST's shape, CIFAR-10's for the ResNet.
IMAGE_SHAPES = {"mlp": (1, 28, 28), "lenet": (1, 28, 28), "resnet": (3, 32, 32)}


def xavier(model):
    for m in model.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return model


def train_step(model, opt, x, y):
    opt.zero_grad(set_to_none=True)
    loss = nn.functional.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    return loss


def synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def seconds_per_call(fn, args, device):
    """Calls fn args.warmup times, then times args.steps calls (the device drained before and after)."""
    for _ in range(args.warmup):
        fn()
    synchronize(device)
    start = time.perf_counter()
    for _ in range(args.steps):
        fn()
    synchronize(device)
    return (time.perf_counter() - start) / args.steps


def bench_step(args):
    device = torch.device(args.device)
    torch.manual_seed(1)
    model = xavier(MODELS[args.model]()).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-8)
    x = torch.rand((128,) + IMAGE_SHAPES[args.model], device=device)
    y = torch.randint(0, 10, (128,), device=device)
    ms = 1000 * seconds_per_call(lambda: train_step(model, opt, x, y), args, device)
    return {"model": args.model, "torch_ms_per_step": round(ms, 3)}


# The batch of the hvp mode: BenchmarkHessianVectorProduct's split (bench_test.go's
# hvpExamples), one batch on both sides.
HVP_EXAMPLES = 250


def bench_hvp(args):
    """One exact H·v of the mean cross-entropy over one batch of random images and labels
    (inference mode), along a random direction: the gradient of <grad loss, v>, by double
    backward, as esp's experiment.Net.HessianVectorProduct computes it."""
    device = torch.device(args.device)
    torch.manual_seed(1)
    model = xavier(MODELS[args.model]()).to(device).eval()
    params = list(model.parameters())
    v = [torch.randn_like(p) for p in params]
    x = torch.randint(0, 256, (HVP_EXAMPLES,) + IMAGE_SHAPES[args.model], device=device).float() / 255
    y = torch.randint(0, 10, (HVP_EXAMPLES,), device=device)

    def product():
        loss = nn.functional.cross_entropy(model(x), y)
        grads = torch.autograd.grad(loss, params, create_graph=True)
        gv = sum((g * d).sum() for g, d in zip(grads, v))
        return torch.autograd.grad(gv, params)

    ms = 1000 * seconds_per_call(product, args, device)
    return {"model": args.model, "examples": HVP_EXAMPLES, "torch_ms_per_product": round(ms, 3)}


# The MLP step's two large products as esp lays them out (see bench_test.go's
# matmulProducts): name -> (lhs shape, rhs shape, whether rhs is used transposed).
PRODUCTS = {"forward": ((512, 784), (128, 784), True), "weight-gradient": ((512, 128), (128, 784), False)}


def bench_matmul(args):
    lhs_shape, rhs_shape, transposed = PRODUCTS[args.product]
    device = torch.device(args.device)
    a, b = torch.rand(*lhs_shape, device=device), torch.rand(*rhs_shape, device=device)
    product = (lambda: a @ b.T) if transposed else (lambda: a @ b)
    seconds = seconds_per_call(product, args, device)
    k = lhs_shape[1]
    n = rhs_shape[0] if transposed else rhs_shape[1]
    return {"product": args.product, "torch_gflops": round(2 * lhs_shape[0] * k * n / seconds / 1e9, 2)}


def read_idx(path, images):
    with open(path, "rb") as f:
        data = f.read()
    offset = 16 if images else 8
    return np.frombuffer(data, dtype=np.uint8, offset=offset)


def bench_epoch(args):
    d = os.path.join(args.data_dir, "mnist")
    xtr = read_idx(os.path.join(d, "train-images-idx3-ubyte"), True).reshape(-1, 1, 28, 28)
    ytr = read_idx(os.path.join(d, "train-labels-idx1-ubyte"), False)
    xte = read_idx(os.path.join(d, "t10k-images-idx3-ubyte"), True).reshape(-1, 1, 28, 28)
    yte = read_idx(os.path.join(d, "t10k-labels-idx1-ubyte"), False)
    rng = np.random.default_rng(0)
    wrong = (yte + 1 + rng.integers(0, 9, size=len(yte))) % 10
    copies = len(ytr) // len(yte) + 1
    device = torch.device(args.device)
    x = torch.from_numpy(np.concatenate([xtr] + [xte] * copies)).to(device)
    y = torch.from_numpy(np.concatenate([ytr] + [wrong] * copies).astype(np.int64)).to(device)
    evals = [(torch.from_numpy(xtr.copy()).to(device), torch.from_numpy(ytr.astype(np.int64)).to(device)),
             (torch.from_numpy(xte.copy()).to(device), torch.from_numpy(yte.astype(np.int64)).to(device))]
    start = time.perf_counter()
    steps = 0
    accuracies = []
    for run in range(args.runs):  # fresh weights each run, as esp run does
        torch.manual_seed(args.seed + run)
        model = xavier(mlp()).to(device)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-8)
        for _ in range(args.epochs):
            perm = torch.randperm(len(y), device=device)
            for i in range(0, len(y), 128):
                idx = perm[i:i + 128]
                train_step(model, opt, x[idx].float() / 255, y[idx])
                steps += 1
            if args.eval:  # as esp does after every epoch: accuracy on the training and test splits
                with torch.no_grad():
                    accuracies = [sum((model(ex[i:i + 1000].float() / 255).argmax(1) == ey[i:i + 1000]).sum().item()
                                      for i in range(0, len(ey), 1000)) / len(ey) for ex, ey in evals]
    synchronize(device)
    seconds = time.perf_counter() - start
    result = {"model": "mlp", "examples": len(y), "epochs": args.epochs, "runs": args.runs,
              "torch_epoch_seconds": round(seconds / (args.epochs * args.runs), 3),
              "torch_run_seconds": round(seconds / args.runs, 3), "torch_ms_per_step": round(1000 * seconds / steps, 3)}
    if accuracies:  # of the last run
        result["train_acc"], result["test_acc"] = round(accuracies[0], 4), round(accuracies[1], 4)
    # The last run's weight norms, named as esp names them (the authors' is the sum).
    with torch.no_grad():
        norms = [p.norm().item() for p in model.parameters()]
    result["weight_norm_sum"], result["weight_norm"] = round(sum(norms), 2), round(sum(n * n for n in norms) ** 0.5, 2)
    return result


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=["step", "epoch", "matmul", "hvp"])
    p.add_argument("--product", choices=sorted(PRODUCTS), default="forward", help="which product (matmul)")
    p.add_argument("--model", choices=sorted(MODELS), default="mlp")
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--epochs", type=int, default=1, help="epochs of the corrupted-MNIST run (epoch)")
    p.add_argument("--runs", type=int, default=1, help="runs of the corrupted-MNIST protocol, one after the other (epoch)")
    p.add_argument("--seed", type=int, default=1, help="torch seed of the first run; run i uses seed+i (epoch)")
    p.add_argument("--eval", action="store_true", help="evaluate train and test accuracy after every epoch (epoch)")
    p.add_argument("--tf32", action="store_true",
                   help="TF32 matmuls and convolutions on a GPU, as GoMLX's XLA backend does on CUDA by default")
    p.add_argument("--data-dir", default=os.environ.get("ESP_DATA_DIR", os.path.expanduser("~/.cache/esp")))
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.backends.cuda.matmul.allow_tf32 = args.tf32
    torch.backends.cudnn.allow_tf32 = args.tf32
    result = {"step": bench_step, "epoch": bench_epoch, "matmul": bench_matmul, "hvp": bench_hvp}[args.what](args)
    result["torch_version"] = torch.__version__
    result["threads"] = args.threads
    result["device"] = args.device
    result["tf32"] = args.tf32
    json.dump(result, sys.stdout)
    print()


if __name__ == "__main__":
    main()
