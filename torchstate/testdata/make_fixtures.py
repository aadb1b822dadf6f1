"""Writes the PyTorch fixtures of torchstate's tests. Run from this folder with PyTorch
1.13 (Debian's python3-torch): /usr/bin/python3 make_fixtures.py

- mlp_legacy.pt: the authors' MLP (fc1, ReLU, fc2) for 6x6 gray images, 5 hidden units,
  2 classes, saved in the legacy (pre-1.6) format, as their published points are.
- mlp_zip_f64.pt: the same weights in float64, saved in the zip format.
- mlp_zip_bf16.pt: the same weights rounded to bfloat16 (expected from them in float32).
- lenet_zip.pt: the authors' LeNet-like ConvNet for 8x8 gray images, fc_units 6, 3 classes.
- expected.json: for each fixture, uint8 images (row-major HWC) and PyTorch's
  log-softmax outputs for them, with the pixels scaled to [0, 1] as esp feeds them.
"""
import json

import torch
import torch.nn as nn

torch.manual_seed(1)


class MLP(nn.Module):
    def __init__(self, inputs, hidden, classes):
        super().__init__()
        self.fc1 = nn.Linear(inputs, hidden)
        self.relu = nn.ReLU()
        self.fc2 = nn.Linear(hidden, classes)

    def forward(self, x):
        return self.fc2(self.relu(self.fc1(x.reshape(x.size(0), -1))))


class ConvNet(nn.Module):
    def __init__(self, side, fc_units, classes):
        super().__init__()
        self.layer1 = nn.Sequential(nn.Conv2d(1, 16, 5, 1, 2), nn.ReLU(), nn.MaxPool2d(2, 2))
        self.layer2 = nn.Sequential(nn.Conv2d(16, 32, 5, 1, 2), nn.ReLU(), nn.MaxPool2d(2, 2))
        self.layer3 = nn.Sequential(nn.Conv2d(32, 64, 5, 1, 2), nn.ReLU())
        self.fc1 = nn.Linear((side // 4) ** 2 * 64, fc_units)
        self.fc2 = nn.Linear(fc_units, classes)

    def forward(self, x):
        out = self.layer3(self.layer2(self.layer1(x)))
        return self.fc2(self.fc1(out.reshape(out.size(0), -1)))


def xavier(m):
    if isinstance(m, (nn.Conv2d, nn.Linear)):
        nn.init.xavier_uniform_(m.weight)


def expected(model, side, n):
    images = torch.randint(0, 256, (n, 1, side, side), dtype=torch.uint8)
    with torch.no_grad():
        logp = torch.log_softmax(model(images.double() / 255 if next(model.parameters()).dtype == torch.float64
                                       else images.float() / 255), dim=1)
    # One channel: NCHW and HWC hold the pixels in the same order.
    return {"height": side, "width": side, "channels": 1,
            "images": images.reshape(n, -1).tolist(), "log_softmax": logp.tolist()}


out = {}
mlp = MLP(36, 5, 2)
mlp.apply(xavier)
torch.save(mlp.state_dict(), "mlp_legacy.pt", _use_new_zipfile_serialization=False)
out["mlp_legacy.pt"] = expected(mlp, 6, 4)
mlp64 = mlp.double()
torch.save(mlp64.state_dict(), "mlp_zip_f64.pt")
out["mlp_zip_f64.pt"] = expected(mlp64, 6, 4)

mlp16 = MLP(36, 5, 2)
mlp16.load_state_dict({k: v.float() for k, v in mlp.state_dict().items()})
mlp16.bfloat16()
torch.save(mlp16.state_dict(), "mlp_zip_bf16.pt")
out["mlp_zip_bf16.pt"] = expected(mlp16.float(), 6, 4)

lenet = ConvNet(8, 6, 3)
lenet.apply(xavier)
torch.save(lenet.state_dict(), "lenet_zip.pt")
out["lenet_zip.pt"] = expected(lenet, 8, 4)

with open("expected.json", "w") as f:
    json.dump(out, f, indent=1)
    f.write("\n")
