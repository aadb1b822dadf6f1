"""Writes the PyTorch fixtures of torchstate's tests. Run from this folder with PyTorch
1.13 (Debian's python3-torch): /usr/bin/python3 make_fixtures.py

- mlp_legacy.pt: the authors' MLP (fc1, ReLU, fc2) for 6x6 gray images, 5 hidden units,
  2 classes, saved in the legacy (pre-1.6) format, as their published points are.
- mlp_zip_f64.pt: the same weights in float64, saved in the zip format.
- mlp_zip_bf16.pt: the same weights rounded to bfloat16 (expected from them in float32).
- lenet_zip.pt: the authors' LeNet-like ConvNet for 8x8 gray images, fc_units 6, 3 classes.
- cnn2_zip.pt: the smaller CNN of the authors' "AlexNet" folder (two convolutions, 16 and
  32 filters, each with 2x2 max-pooling, then fc_units, fc classes) for 8x8 gray images,
  fc_units 4, 3 classes. Its entry in expected.json also has "gradient": for images that
  are blank but for one bright 3x3 patch (so that max-pooling windows hold equal values),
  with labels, the norm of PyTorch's gradient of the mean cross-entropy for each tensor.
- resnet_zip_f16.pt: the authors' ResNet (3x3 shortcuts) with one block per stage, for
  14x14 gray images (odd sizes after the strides: 14, 7, 4), 2 classes, in float16, its
  batch norms' weights, biases and running statistics made non-trivial; their
  AvgPool2d(8) pools the last 8x8 maps of CIFAR-10 whole, so here it is a global average.
- expected.json: for each fixture, uint8 images (row-major HWC) and PyTorch's
  log-softmax outputs for them, with the pixels scaled to [0, 1] as esp feeds them.
  The MLP in float64, LeNet, the small CNN and the ResNet (in evaluation mode) also have
  "hessian": for images with labels, PyTorch's exact Hessian-vector product (autograd
  twice, in float64) of the mean cross-entropy in the direction of the parameters
  themselves, H·w: its norm for each parameter tensor, by name, and wᵀHw. For the small CNN they
  are the blank images of "gradient", whose max-pooling windows hold equal values.
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



def conv3x3(cin, cout, stride=1):
    return nn.Conv2d(cin, cout, kernel_size=3, stride=stride, padding=1, bias=False)


class ResidualBlock(nn.Module):
    def __init__(self, cin, cout, stride=1, downsample=None):
        super().__init__()
        self.conv1, self.bn1 = conv3x3(cin, cout, stride), nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2, self.bn2 = conv3x3(cout, cout), nn.BatchNorm2d(cout)
        self.downsample = downsample

    def forward(self, x):
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        return self.relu(out + (self.downsample(x) if self.downsample else x))


class ResNet(nn.Module):
    def __init__(self, blocks, classes):
        super().__init__()
        self.in_channels = 16
        self.conv, self.bn, self.relu = conv3x3(1, 16), nn.BatchNorm2d(16), nn.ReLU(inplace=True)
        self.layer1 = self.make_layer(16, blocks)
        self.layer2 = self.make_layer(32, blocks, 2)
        self.layer3 = self.make_layer(64, blocks, 2)
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, classes)

    def make_layer(self, cout, blocks, stride=1):
        downsample = None
        if stride != 1 or self.in_channels != cout:
            downsample = nn.Sequential(conv3x3(self.in_channels, cout, stride=stride), nn.BatchNorm2d(cout))
        layers = [ResidualBlock(self.in_channels, cout, stride, downsample)]
        self.in_channels = cout
        layers += [ResidualBlock(cout, cout) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        out = self.layer3(self.layer2(self.layer1(self.relu(self.bn(self.conv(x))))))
        return self.fc(self.avg_pool(out).reshape(x.size(0), -1))


resnet = ResNet(1, 2)
resnet.apply(xavier)
for m in resnet.modules():
    if isinstance(m, nn.BatchNorm2d):
        nn.init.uniform_(m.weight, 0.5, 1.5)
        nn.init.uniform_(m.bias, -0.5, 0.5)
resnet.train()
with torch.no_grad():  # running statistics away from their initial 0 and 1
    for _ in range(3):
        resnet(torch.rand(8, 1, 14, 14) * 2)
resnet.eval()
resnet.half()
torch.save(resnet.state_dict(), "resnet_zip_f16.pt")
out["resnet_zip_f16.pt"] = expected(resnet.float(), 14, 4)



class SmallConvNet(nn.Module):
    def __init__(self, side, fc_units, classes):
        super().__init__()
        self.layer1 = nn.Sequential(nn.Conv2d(1, 16, 5, 1, 2), nn.ReLU(), nn.MaxPool2d(2, 2))
        self.layer2 = nn.Sequential(nn.Conv2d(16, 32, 5, 1, 2), nn.ReLU(), nn.MaxPool2d(2, 2))
        self.fc1 = nn.Linear((side // 4) ** 2 * 32, fc_units)
        self.fc2 = nn.Linear(fc_units, classes)

    def forward(self, x):
        out = self.layer2(self.layer1(x))
        return self.fc2(self.fc1(out.reshape(out.size(0), -1)))


cnn2 = SmallConvNet(8, 4, 3)
cnn2.apply(xavier)
torch.save(cnn2.state_dict(), "cnn2_zip.pt")
out["cnn2_zip.pt"] = expected(cnn2, 8, 4)
blank = torch.zeros(4, 1, 8, 8, dtype=torch.uint8)
for i in range(4):
    blank[i, 0, i:i + 3, 2 * i // 2:2 * i // 2 + 3] = 255
labels = torch.tensor([0, 1, 2, 1])
cnn2.zero_grad()
nn.CrossEntropyLoss()(cnn2(blank.float() / 255), labels).backward()
out["cnn2_zip.pt"]["gradient"] = {"images": blank.reshape(4, -1).tolist(), "labels": labels.tolist(),
                                  "norms": [p.grad.norm().item() for p in cnn2.parameters()]}



def hessian(model, entry, images, labels):
    """Adds to entry PyTorch's exact Hessian-vector product, in float64, of the mean
    cross-entropy of the images with the labels, in the direction of the model's own
    parameters w: the norm of H·w for each parameter tensor, and wᵀHw."""
    model = model.double()
    names, params = zip(*model.named_parameters())
    x = torch.tensor(images, dtype=torch.float64).reshape(len(images), 1, entry["height"], entry["width"]) / 255
    loss = nn.CrossEntropyLoss()(model(x), torch.tensor(labels))
    grads = torch.autograd.grad(loss, params, create_graph=True)
    v = [p.detach().clone() for p in params]
    hv = torch.autograd.grad(sum((g * d).sum() for g, d in zip(grads, v)), params)
    entry["hessian"] = {"images": images, "labels": labels, "norms": {n: h.norm().item() for n, h in zip(names, hv)},
                        "quadratic_form": sum((h * d).sum() for h, d in zip(hv, v)).item()}


hessian(mlp64, out["mlp_zip_f64.pt"], out["mlp_zip_f64.pt"]["images"], [0, 1, 1, 0])
hessian(lenet, out["lenet_zip.pt"], out["lenet_zip.pt"]["images"], [0, 1, 2, 0])
hessian(cnn2, out["cnn2_zip.pt"], out["cnn2_zip.pt"]["gradient"]["images"], [0, 1, 2, 1])
hessian(resnet, out["resnet_zip_f16.pt"], out["resnet_zip_f16.pt"]["images"], [0, 1, 1, 0])

with open("expected.json", "w") as f:
    json.dump(out, f, indent=1)
    f.write("\n")
