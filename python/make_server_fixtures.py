"""Model files for the server's end-to-end tests (server/tests/fixtures/).

    .venv/bin/python python/make_server_fixtures.py

sklearn_gbc_toy.onnx: a scikit-learn GradientBoostingClassifier (3 trees of
depth 2) exported by skl2onnx as an ONNX-ML TreeEnsembleClassifier, trained on
data shaped like the tests' toy dataset (4 features in [0, 1), anomalous when
x0 > 0.5). Deterministic: the same versions write the same bytes.
"""
import pathlib

import numpy as np
from skl2onnx import to_onnx
from sklearn.ensemble import GradientBoostingClassifier

OUT = pathlib.Path(__file__).resolve().parent.parent / "server" / "tests" / "fixtures"


def main():
    rng = np.random.default_rng(7)
    x = rng.random((400, 4)).astype(np.float32)
    y = (x[:, 0] > 0.5).astype(int)
    model = GradientBoostingClassifier(n_estimators=3, max_depth=2, random_state=0).fit(x, y)
    onnx_model = to_onnx(
        model,
        x[:1],
        options={id(model): {"zipmap": False}},
        target_opset={"": 17, "ai.onnx.ml": 3},
    )
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / "sklearn_gbc_toy.onnx"
    path.write_bytes(onnx_model.SerializeToString())
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
