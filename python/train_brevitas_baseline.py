#!/usr/bin/env python3
"""Train a quantization-aware autoencoder for a FastML Arena challenge with
PyTorch + Brevitas and export it as QONNX, ready for `arena submit`.

This is the participant workflow the demo challenges are built for:

    pip install torch brevitas pyarrow requests   # CPU wheels are enough
    python python/train_brevitas_baseline.py --server http://127.0.0.1:8080 \
        --challenge gw-trigger --out gw_ae.onnx
    arena submit --challenge gw-trigger --model gw_ae.onnx --wait

It reads the challenge (dataset, input column and per-sample shape) and the
public training split over the platform's API, trains a
small dense autoencoder on it (the gravitational-wave training split is
background only, so reconstruction error flags what it has not seen), and
exports QONNX. All quantizers are fixed-point (power-of-two scales), which is
what the toolflow maps exactly to hardware; weights use 6 bits and activations
8 bits, so the design is far smaller than the float PCA baseline.

Not run by the test suite: PyTorch is too large for CI here. The exported
model's contract is what the suite checks for every submission: one input
shaped like the challenge's `input.shape`, output the same size (the challenge
scores `reconstruction_error`).
"""

import argparse
import io
import sys

import numpy as np


def load_challenge(server: str, slug: str) -> dict:
    import requests

    response = requests.get(f"{server}/api/v1/challenges/{slug}", timeout=60)
    response.raise_for_status()
    return response.json()["definition"]


def load_split(server: str, dataset: str, version: str, split: str, column_name: str) -> np.ndarray:
    import pyarrow.parquet as pq
    import requests

    url = f"{server}/api/v1/datasets/{dataset}/versions/{version}/splits/{split}.parquet"
    response = requests.get(url, timeout=120)
    response.raise_for_status()
    table = pq.read_table(io.BytesIO(response.content), columns=[column_name])
    column = table.column(column_name).combine_chunks()
    width = column.type.list_size
    return column.flatten().to_numpy().reshape(-1, width).astype(np.float32)


def build_model(width: int, hidden: int, code: int):
    import torch.nn as nn
    from brevitas.nn import QuantIdentity, QuantLinear, QuantReLU
    from brevitas.quant import (Int8ActPerTensorFixedPoint, Int8WeightPerTensorFixedPoint,
                                Int16Bias, Uint8ActPerTensorFixedPoint)

    # Every scale is a power of two (the *FixedPoint quantizers), and biases are
    # quantized at the accumulator's scale (Int16Bias), so the exported QONNX maps
    # exactly onto fixed-point hardware.
    def linear(n_in, n_out):
        return QuantLinear(n_in, n_out, bias=True, weight_bit_width=6,
                           weight_quant=Int8WeightPerTensorFixedPoint,
                           bias_quant=Int16Bias, return_quant_tensor=False)

    def act():
        return QuantReLU(bit_width=8, act_quant=Uint8ActPerTensorFixedPoint, return_quant_tensor=True)

    # The challenge feeds each sample in its declared shape (e.g. [2, 200]);
    # the dense layers see it flattened, and the reconstruction keeps that shape.
    return nn.Sequential(
        nn.Flatten(),
        QuantIdentity(bit_width=8, act_quant=Int8ActPerTensorFixedPoint, return_quant_tensor=True),
        linear(width, hidden), act(),
        linear(hidden, code), act(),
        linear(code, hidden), act(),
        linear(hidden, width),
        QuantIdentity(bit_width=8, act_quant=Int8ActPerTensorFixedPoint, return_quant_tensor=False),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", default="http://127.0.0.1:8080")
    parser.add_argument("--challenge", default="gw-trigger")
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--code", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--out", default="model.onnx")
    args = parser.parse_args()

    try:
        import torch
        from brevitas.export import export_qonnx
    except ImportError:
        print("this script needs PyTorch and Brevitas: pip install torch brevitas", file=sys.stderr)
        return 2

    torch.manual_seed(0)
    challenge = load_challenge(args.server, args.challenge)
    dataset, column_name = challenge["dataset"], challenge["input"]["column"]
    if not column_name:
        print("this script handles challenges with one list-valued input column", file=sys.stderr)
        return 2
    shape = [int(d) for d in challenge["input"]["shape"]]
    x = load_split(args.server, dataset["slug"], dataset["version"], "train", column_name)
    width = x.shape[1]
    if int(np.prod(shape)) != width:
        print(f"column {column_name} has {width} values per row; the challenge declares {shape}",
              file=sys.stderr)
        return 2
    model = build_model(width, args.hidden, args.code)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    data = torch.from_numpy(x)
    for epoch in range(args.epochs):
        permutation = torch.randperm(len(data))
        total = 0.0
        for start in range(0, len(data), 256):
            batch = data[permutation[start:start + 256]]
            optimiser.zero_grad()
            loss = torch.mean((model(batch) - batch) ** 2)
            loss.backward()
            optimiser.step()
            total += loss.item() * len(batch)
        print(f"epoch {epoch + 1}: reconstruction MSE {total / len(data):.4f}")

    model.eval()
    export_qonnx(model, torch.zeros(1, *shape), export_path=args.out)
    print(f"wrote {args.out}; submit it with: "
          f"arena submit --challenge {args.challenge} --model {args.out} --wait")
    return 0


if __name__ == "__main__":
    sys.exit(main())
