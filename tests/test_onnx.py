"""ONNX export: the study's four networks (seed CNN, seed DNN with its per-image standardisation,
the fast/best presets' CNN on 40x40 crops, mini-Xception) give minigrad's logits to 1e-4 in ONNX
Runtime and in OpenCV's dnn module, batch norm folded, pixels 0-255 in, class names inside."""
import numpy as np
import pytest

from bundle_helpers import NETWORKS, network, write_run
from fer import LABELS, export
from fer.errors import UsageError
from fer.evaluation.inference import predict_logits

onnx = pytest.importorskip("onnx", reason="ONNX export needs the onnx package (the onnx extra)")
cv2 = pytest.importorskip("cv2")
pytestmark = pytest.mark.usefixtures("one_thread")

TOLERANCE = 1e-4


def faces(side, n=32, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, 1, side, side), dtype=np.uint8)


@pytest.fixture(scope="module", params=sorted(NETWORKS))
def exported(request):
    """(kind, model, ONNX bytes, 32 faces of the graph's input side, minigrad's logits)."""
    from fer.onnx_export import to_onnx

    model = network(request.param)
    proto = to_onnx(model)
    side = proto.graph.input[0].type.tensor_type.shape.dim[2].dim_value
    images = faces(side)
    return request.param, proto, images, predict_logits(model, images)


def test_onnx_runtime_gives_minigrads_logits(exported):
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is in the test extra")
    _, proto, images, logits = exported
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    (out,) = session.run(["logits"], {"faces": images.astype(np.float32)})
    assert out.shape == (32, 7)
    np.testing.assert_allclose(out, logits, rtol=0, atol=TOLERANCE)


def test_opencv_dnn_gives_minigrads_logits(exported):
    _, proto, images, logits = exported
    net = cv2.dnn.readNetFromONNX(np.frombuffer(proto.SerializeToString(), np.uint8))
    net.setInput(images.astype(np.float32))
    np.testing.assert_allclose(net.forward(), logits, rtol=0, atol=TOLERANCE)


def test_the_graph_folds_batch_norm_and_names_its_input_output_and_classes(exported):
    kind, proto, images, _ = exported
    ops = [node.op_type for node in proto.graph.node]
    # every batch norm folded: no Mul or Add left but the DNN's standardisation (a square, + eps)
    # and Xception's two residual additions
    assert "BatchNormalization" not in ops and ops.count("Mul") == (kind == "dnn")
    assert ops.count("Add") == {"xception": 2, "dnn": 1}.get(kind, 0)
    assert [i.name for i in proto.graph.input] == ["faces"] and [o.name for o in proto.graph.output] == ["logits"]
    assert proto.opset_import[0].version >= 17
    assert images.shape[2] == (40 if kind == "fast" else 48)
    assert {p.key: p.value for p in proto.metadata_props}["labels"] == ",".join(LABELS)


def test_the_command_writes_a_file_and_names_a_missing_package(tmp_path, monkeypatch, capsys):
    import sys

    run = write_run(tmp_path / "run", "fast")
    output = tmp_path / "model.onnx"
    assert export.main([str(run), "--format", "onnx", "--output", str(output)]) == 0
    loaded = onnx.load(str(output))
    assert {p.key: p.value for p in loaded.metadata_props}["source"] == str(run)
    assert f"wrote {output} (ONNX opset 17)" in capsys.readouterr().out
    monkeypatch.setitem(sys.modules, "onnx", None)      # as if it were not installed
    with pytest.raises(UsageError, match=r"needs the onnx package.*pip install"):
        export.main([str(run), "--format", "onnx", "--output", str(output)])
