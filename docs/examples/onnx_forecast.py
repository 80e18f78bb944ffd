"""Forecast with an exported pygkd model using only ONNX Runtime and NumPy (no PyTorch, no
pygkd): ``python onnx_forecast.py model.onnx recent.csv``.

``recent.csv`` is the own-data format (a timestamp column, then one column per sensor, in the
model's order); its last rows (the model's input length) are the input window.
"""

import csv
import sys

import numpy as np
import onnxruntime as ort


def main(model_path: str, csv_path: str) -> np.ndarray:
    session = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    spec = session.get_inputs()[0]  # "readings": [batch, steps, sensors, channels]
    steps, sensors = spec.shape[1], spec.shape[2]
    with open(csv_path, newline="") as handle:
        rows = list(csv.reader(handle))[1:]
    window = np.array([[float(v) for v in row[1:]] for row in rows[-steps:]], dtype=np.float32)
    if window.shape != (steps, sensors):
        raise SystemExit(f"expected {steps} rows of {sensors} sensors, got {window.shape}")
    forecast = session.run(None, {spec.name: window[None, :, :, None]})[0][0]  # [H, sensors]
    for h, row in enumerate(forecast, start=1):
        print(f"step +{h}: " + " ".join(f"{v:.2f}" for v in row[:5]) + " ...")
    return forecast


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
    assert "torch" not in sys.modules
