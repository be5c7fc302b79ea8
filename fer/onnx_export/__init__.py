"""Trained networks as ONNX graphs, for runtimes other than minigrad (ONNX Runtime, OpenCV's
``cv2.dnn``, and through them phones and browsers).

- :mod:`fer.onnx_export.steps`: a network as a list of inference steps, batch norm folded into
  the convolutions and linear layers (NumPy only);
- :mod:`fer.onnx_export.nodes`: those steps as ONNX nodes (the optional ``onnx`` package),
  :func:`export_onnx` to write a file.

``python -m fer.export RUN --format onnx --output model.onnx`` is the command line.
"""
from .nodes import INPUT_NAME, OPSET, OUTPUT_NAME, export_onnx, to_onnx

__all__ = ["INPUT_NAME", "OPSET", "OUTPUT_NAME", "export_onnx", "to_onnx"]
