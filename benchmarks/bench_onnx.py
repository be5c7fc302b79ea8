"""The exported ONNX graphs against minigrad: agreement of the study's four full-size networks
and images/s of one of them in ONNX Runtime, OpenCV's dnn module and minigrad.

    python benchmarks/bench_onnx.py [--model fast] [--threads 2] [--seconds 3]

Each network (the seed-cnn, seed-dnn, fast/best and xception presets' networks, random weights,
random batch-norm statistics) is exported with ``fer.onnx_export`` and run on the same 32 faces
in each runtime: the table gives the largest absolute difference from minigrad's logits.  Then
``--model``'s network is timed at batch 1 and 256, each runtime on ``--threads`` threads, for
about ``--seconds`` a cell (after a warm-up call): the images/s a runtime keeps up.
"""
import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import numpy as np  # noqa: E402

PRESETS = ("seed-cnn", "seed-dnn", "fast", "xception")


def preset_network(name):
    import minigrad
    from bundle_helpers import randomise_batch_norm
    from fer.models.networks import build_model
    from fer.models.presets import PRESETS as RECIPES

    minigrad.manual_seed(0)
    return randomise_batch_norm(build_model(RECIPES[name]["model"], **RECIPES[name]["model_config"]))


def runtimes(model, threads):
    """{name: function(uint8 faces (N, 1, S, S)) -> logits} for minigrad, ONNX Runtime and OpenCV."""
    import cv2
    import onnxruntime as ort

    from fer.evaluation.inference import predict_logits
    from fer.onnx_export import to_onnx

    data = to_onnx(model).SerializeToString()
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    cv2.setNumThreads(threads)
    net = cv2.dnn.readNetFromONNX(np.frombuffer(data, np.uint8))

    def opencv(faces):
        net.setInput(faces.astype(np.float32))
        return net.forward()

    return {"minigrad": lambda faces: predict_logits(model, faces),
            "onnxruntime": lambda faces: session.run(["logits"], {"faces": faces.astype(np.float32)})[0],
            "opencv dnn": opencv}


def images_per_second(run, faces, seconds):
    run(faces)   # warm-up: numba's kernels, the runtimes' first-call set-up
    calls, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds or calls < 3:
        run(faces)
        calls += 1
    return calls * len(faces) / (time.perf_counter() - started)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=PRESETS, default="fast")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args(argv)

    import numba
    from threadpoolctl import threadpool_limits

    from fer.models.networks import input_side

    numba.set_num_threads(args.threads)
    threadpool_limits(args.threads)
    rng = np.random.default_rng(0)
    print("largest |logit difference| from minigrad on 32 faces (full-size networks, random weights)")
    print(f"{'network':<10}{'|logits| max':>14}{'onnxruntime':>14}{'opencv dnn':>14}")
    for name in PRESETS:
        model = preset_network(name)
        faces = rng.integers(0, 256, (32, 1, input_side(model) or 48, input_side(model) or 48), dtype=np.uint8)
        outputs = {k: run(faces) for k, run in runtimes(model, args.threads).items()}
        reference = outputs.pop("minigrad")
        print(f"{name:<10}{np.abs(reference).max():>14.3f}"
              + "".join(f"{np.abs(out - reference).max():>14.2e}" for out in outputs.values()))

    model = preset_network(args.model)
    side = input_side(model) or 48
    print(f"\nimages/s, {args.model} network ({side}x{side} input), {args.threads} threads each")
    print(f"{'runtime':<14}{'batch 1':>10}{'batch 256':>11}")
    for name, run in runtimes(model, args.threads).items():
        speeds = [images_per_second(run, rng.integers(0, 256, (n, 1, side, side), dtype=np.uint8), args.seconds)
                  for n in (1, 256)]
        print(f"{name:<14}{speeds[0]:>10.0f}{speeds[1]:>11.0f}")


if __name__ == "__main__":
    main()
