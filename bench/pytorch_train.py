"""Training throughput of an ArchSpec in PyTorch: the baseline of bench/train-throughput.

Builds the same network the TypeScript builder builds (stem, conv/dsconv/bneck blocks with SE and
residuals, head) from the spec JSON, trains it on random data with RMSProp and prints one JSON line:
{"imagesPerSec", "msPerStep", "threads", "torch", "params"}.

Usage: /usr/bin/python3 bench/pytorch_train.py SPEC.json [--batch 32] [--steps 30] [--threads N]
"""
import argparse
import json
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def activation(name):
    return {"relu": nn.ReLU(), "relu6": nn.ReLU6(), "hswish": nn.Hardswish(), "swish": nn.SiLU()}[name]


def conv_bn(cin, cout, k, s, groups=1, act=None):
    layers = [nn.Conv2d(cin, cout, k, s, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout, eps=1e-3, momentum=0.1)]
    if act:
        layers.append(activation(act))
    return nn.Sequential(*layers)


class SqueezeExcite(nn.Module):
    def __init__(self, channels, se):
        super().__init__()
        self.reduce = nn.Conv2d(channels, se["squeeze"], 1)
        self.expand = nn.Conv2d(se["squeeze"], channels, 1)
        self.act = activation(se["activation"])
        self.gate = nn.Hardsigmoid() if se["gate"] == "hsigmoid" else nn.Sigmoid()

    def forward(self, x):
        s = F.adaptive_avg_pool2d(x, 1)
        return x * self.gate(self.expand(self.act(self.reduce(s))))


class Block(nn.Module):
    def __init__(self, cin, b):
        super().__init__()
        layers = []
        if b["type"] == "conv":
            layers.append(conv_bn(cin, b["out"], b["kernel"], b["stride"], act=b["activation"]))
            mid = b["out"]
        else:
            mid = b["exp"] if b["type"] == "bneck" else cin
            if b["type"] == "bneck":
                layers.append(conv_bn(cin, mid, 1, 1, act=b["activation"]))
            layers.append(conv_bn(mid, mid, b["kernel"], b["stride"], groups=mid, act=b["activation"]))
        if b["se"]:
            layers.append(SqueezeExcite(mid, b["se"]))
        if b["type"] != "conv":
            layers.append(conv_bn(mid, b["out"], 1, 1))
        self.body = nn.Sequential(*layers)
        self.residual = b["residual"]

    def forward(self, x):
        y = self.body(x)
        return x + y if self.residual else y


def build(spec):
    stem = spec["stem"]
    layers = [conv_bn(spec["input"]["channels"], stem["out"], stem["kernel"], stem["stride"], act=stem["activation"])]
    channels = stem["out"]
    for b in spec["blocks"]:
        layers.append(Block(channels, b))
        channels = b["out"]
    head = spec["head"]
    if head["conv"]:
        layers.append(conv_bn(channels, head["conv"]["out"], 1, 1, act=head["conv"]["activation"]))
        channels = head["conv"]["out"]
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    if head["preLogits"]:
        layers += [nn.Linear(channels, head["preLogits"]["out"]), activation(head["preLogits"]["activation"])]
        channels = head["preLogits"]["out"]
    if spec["dropout"] > 0:
        layers.append(nn.Dropout(spec["dropout"]))
    layers.append(nn.Linear(channels, spec["classes"]))
    return nn.Sequential(*layers)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("spec")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    with open(args.spec) as f:
        spec = json.load(f)
    model = build(spec)
    params = sum(p.numel() for p in model.parameters())
    res, ch = spec["input"]["resolution"], spec["input"]["channels"]
    x = torch.randn(args.batch, ch, res, res)
    y = torch.randint(0, spec["classes"], (args.batch,))
    opt = torch.optim.RMSprop(model.parameters(), lr=0.01, alpha=0.9, momentum=0.9, eps=1e-3)
    model.train()

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    for _ in range(5):
        step()
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    elapsed = time.perf_counter() - start
    ms = elapsed / args.steps * 1000
    print(json.dumps({"imagesPerSec": args.batch * args.steps / elapsed, "msPerStep": ms, "threads": torch.get_num_threads(), "torch": torch.__version__, "params": params}))


if __name__ == "__main__":
    main()
