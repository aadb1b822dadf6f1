#!/usr/bin/python3
"""The authors' MLP protocol (MLP/model_def.py + MLP/generating.py), run as a chain.

Model: fc1 784->512, ReLU, fc2 512->10 (nn.Linear, PyTorch default init), then
weight_init: xavier_uniform_ on .weight only (biases keep whatever they had).
Data: X/255 (no mean/std normalization), batch 128, shuffle, drop_last=False,
Adam(lr), CrossEntropy. Corrupted set: train + 7 copies of test with one fixed wrong
label per test image (uniform over the 9 wrong classes), as create_corrupted_mnist.py.

--chain SPEC: comma-separated runs, each KIND:DATASET:EPOCHS, KIND in {u,s}
  (u = usual/normal, s = sad/corrupted), DATASET in {mnist,fashion}.
--share: one model object for all runs (the authors' `import model_def` without reload):
  weights re-xavier'd before each run, biases carried over. Without --share every run
  gets a fresh nn.Linear (fresh default biases) like LeNet's reload(model_def).
--zero-bias: zero the biases at every init (esp's protocol) instead of PyTorch default.
--subset N: the first N training and test examples only (for tests).
Prints one JSON line per run (and per-epoch norms with --every).

The README quotes these chains (one thread, seed 0 unless said):
  --share --eval --chain u:mnist:50,u:fashion:50,s:mnist:50,s:fashion:50,u:mnist:50 --save end.pt
  then the biases of end.pt scaled 5x into x5.pt, and
  --share --eval --load x5.pt --seed 2 --chain u:mnist:50,u:fashion:50,s:mnist:50,s:fashion:50
"""
import argparse, json, os, sys, time
import numpy as np
import torch
import torch.nn as nn

def read_idx(path, images):
    with open(path, "rb") as f:
        data = f.read()
    return np.frombuffer(data, dtype=np.uint8, offset=16 if images else 8)

def load(name, root, subset=0):
    d = os.path.join(root, {"mnist": "mnist", "fashion": "fashion-mnist"}[name])
    xtr = read_idx(os.path.join(d, "train-images-idx3-ubyte"), True).reshape(-1, 784)
    ytr = read_idx(os.path.join(d, "train-labels-idx1-ubyte"), False).astype(np.int64)
    xte = read_idx(os.path.join(d, "t10k-images-idx3-ubyte"), True).reshape(-1, 784)
    yte = read_idx(os.path.join(d, "t10k-labels-idx1-ubyte"), False).astype(np.int64)
    if subset:
        xtr, ytr, xte, yte = xtr[:subset], ytr[:subset], xte[:subset], yte[:subset]
    rng = np.random.RandomState(12345 + (name == "fashion"))
    ywrong = np.array([rng.choice(10, p=np.where(np.arange(10) == l, 0, 1 / 9)) for l in yte], dtype=np.int64)
    assert (ywrong != yte).all()
    copies = len(ytr) // len(yte) + 1  # 7
    xc = np.concatenate([xtr] + [xte] * copies); yc = np.concatenate([ytr] + [ywrong] * copies)
    f = lambda x: torch.from_numpy(x / 255).float()  # as theirs: float64 /255 then .float()
    return {"u": (f(xtr), torch.from_numpy(ytr)), "s": (f(xc), torch.from_numpy(yc)),
            "train": (f(xtr), torch.from_numpy(ytr)), "test": (f(xte), torch.from_numpy(yte))}

class NeuralNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 512); self.relu = nn.ReLU(); self.fc2 = nn.Linear(512, 10)
    def forward(self, x):
        return self.fc2(self.relu(self.fc1(x)))

def norms(model):
    with torch.no_grad():
        return {k: round(v.norm().item(), 3) for k, v in model.named_parameters()}

def acc(model, x, y):
    with torch.no_grad():
        return sum((model(x[i:i + 2000]).argmax(1) == y[i:i + 2000]).sum().item() for i in range(0, len(y), 2000)) / len(y)

def main():
    p = argparse.ArgumentParser()
    p.add_argument("--chain", required=True)
    p.add_argument("--share", action="store_true")
    p.add_argument("--zero-bias", action="store_true")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--every", type=int, default=0, help="print norms every N epochs")
    p.add_argument("--eval", action="store_true")
    p.add_argument("--save", default="")
    p.add_argument("--load", default="", help="state dict to start the shared model from")
    p.add_argument("--data-dir", default=os.environ.get("ESP_DATA_DIR") or os.path.expanduser("~/.cache/esp"))
    p.add_argument("--subset", type=int, default=0)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    data = {}
    shared = NeuralNet()
    if a.load:
        shared.load_state_dict(torch.load(a.load))
    crit = nn.CrossEntropyLoss()
    for ri, spec in enumerate(a.chain.split(",")):
        kind, ds, ep = spec.split(":"); ep = int(ep)
        if ds not in data:
            data[ds] = load(ds, a.data_dir, a.subset)
        model = shared if a.share else NeuralNet()
        for m in model.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight.data)
                if a.zero_bias:
                    nn.init.zeros_(m.bias)
        start_norms = norms(model)
        opt = torch.optim.Adam(model.parameters(), lr=a.lr)
        x, y = data[ds][kind]
        t0 = time.time()
        for e in range(ep):
            perm = torch.randperm(len(y))
            for i in range(0, len(y), 128):
                idx = perm[i:i + 128]
                loss = crit(model(x[idx]), y[idx])
                opt.zero_grad(); loss.backward(); opt.step()
            if a.every and (e + 1) % a.every == 0 and e + 1 < ep:
                n = norms(model)
                print(json.dumps({"run": ri, "spec": spec, "epoch": e + 1, "norm_sum": round(sum(n.values()), 2), "norms": n}), flush=True)
        n = norms(model)
        out = {"run": ri, "spec": spec, "epoch": ep, "norm_sum": round(sum(n.values()), 2), "norms": n,
               "start_bias_norms": {k: v for k, v in start_norms.items() if "bias" in k}, "seconds": round(time.time() - t0, 1)}
        if a.eval:
            out["train_acc"] = round(acc(model, *data[ds]["train"]), 4); out["test_acc"] = round(acc(model, *data[ds]["test"]), 4)
            if kind == "s":
                out["corrupted_acc"] = round(acc(model, *data[ds]["s"]), 4)
        print(json.dumps(out), flush=True)
    if a.save:
        torch.save(shared.state_dict(), a.save)

if __name__ == "__main__":
    main()
