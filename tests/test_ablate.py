"""benchmarks/ablate.py: the rows' commands (--dry-run), resuming, and the table read from run folders."""
import csv
import importlib.util
import json
import shlex

import pytest

from conftest import ROOT

spec = importlib.util.spec_from_file_location("ablate", ROOT / "benchmarks" / "ablate.py")
ablate = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ablate)


def fake_run(folder, accuracies, status="finished", macro_f1=0.55):
    """A run folder as fer.train and fer.evaluate leave it: config, metrics, history, evaluations."""
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"command": "python -m fer.train --preset fast"}))
    (folder / "metrics.json").write_text(json.dumps({"status": status, "epochs_run": 15, "wall_seconds": 1800.0,
                                                     "images_per_s": 240.5, "val_macro_f1": 0.5}))
    with open(folder / "history.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["epoch", "train_acc"])
        writer.writerows([[14, 0.70], [15, 0.7125]])
    for tta, accuracy in zip(ablate.TTAS, accuracies):
        ablate.eval_file(folder, tta).write_text(json.dumps({"accuracy": accuracy, "macro_f1": macro_f1}))


def test_dry_run_prints_each_rows_training_and_evaluation_commands(tmp_path, capsys):
    out = tmp_path / "ab"
    wide = "wide=--model-config '{\"widths\":[96,192,384,768]}'"
    assert ablate.main(["--data", "fer.csv.gz", "--rows", "baseline,ema,snapshots", "--seeds", "0,1",
                        "--out", str(out), "--dry-run", "--change", wide]) == 0
    lines = [shlex.split(line) for line in capsys.readouterr().out.splitlines()]
    trains = [line for line in lines if line[2] == "fer.train"]
    assert len(trains) == 8 and len(lines) == 8 * 5  # 4 rows x 2 seeds, each trained then scored 4 ways
    ema = trains[2]
    assert ema[:3] == ["python", "-m", "fer.train"] and ema[-2:] == ["--ema", "0.999"]
    for flag, value in (("--preset", "fast"), ("--epochs", "15"), ("--max-minutes", "0"), ("--seed", "0"),
                        ("--val-fraction", "0"), ("--data", "fer.csv.gz"), ("--out", str(out / "ema-s0"))):
        assert ema[ema.index(flag) + 1] == value
    assert trains[-1][-2:] == ["--model-config", '{"widths":[96,192,384,768]}']
    snapshot_evals = [line for line in lines if line[2] == "fer.evaluate" and "snapshots-s1" in line[3]]
    assert [line[line.index("--tta") + 1] for line in snapshot_evals] == list(ablate.TTAS)
    assert snapshot_evals[0][3:6] == [str(out / f"snapshots-s1/snapshot-{k}") for k in (1, 2, 3)]


def test_a_complete_row_is_not_rerun_and_an_interrupted_one_is_resumed(tmp_path, capsys):
    out = tmp_path / "ab"
    fake_run(out / "baseline-s0", [0.60, 0.61, 0.62, 0.63])
    fake_run(out / "ema-s0", [0.6, 0.6, 0.6, 0.6], status="interrupted")
    assert ablate.main(["--data", "d", "--rows", "baseline,ema", "--out", str(out), "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"python -m fer.train --resume {out / 'ema-s0'} --no-progress"]  # its evaluations exist


def test_the_table_reads_the_run_folders_and_replaces_its_own_block_in_the_results(tmp_path):
    out, results = tmp_path / "ab", tmp_path / "RESULTS.md"
    results.write_text("# Results\n\n## fast\n\ntext\n\n## Later section\n\nmore\n")
    fake_run(out / "baseline-s0", [0.60, 0.61, 0.62, 0.63])
    fake_run(out / "erase-s0", [0.615, 0.62, 0.63, 0.64], macro_f1=0.6)
    row = ablate.collect(out / "erase-s0")
    assert (row["epochs"], row["minutes"], row["images_per_s"], row["train_acc"]) == (15, 30.0, 240.5, 0.7125)
    assert (row["none"], row["flip"], row["ten-crop"], row["ten-crop-2scale"], row["macro_f1"]) == \
        (0.615, 0.62, 0.63, 0.64, 0.6)
    args = ablate.parse_args(["--data", "d", "--rows", "baseline,erase", "--out", str(out),
                              "--results", str(results)])
    for _ in range(2):  # the second write replaces the first
        ablate.write_table(results, args.out, ablate.table(args, ablate.plan_rows(args), [0]))
    doc = results.read_text()
    assert doc.count(ablate.SECTION) == 1 and doc.count(f"<!-- ablate: {out} -->") == 1
    assert doc.index("## Later section") < doc.index(ablate.SECTION) < doc.index("| erase: random erasing")
    assert "**61.50%** | 62.00% | 63.00% | 64.00% | 71.25% | 0.600 |" in doc
    assert "| erase | 1 | 61.50% | +1.50 points |" in doc
    assert "15 epochs of the `fast` network" in doc  # the protocol, written with the section


def test_table_only_runs_nothing_and_writes_the_rows_done(tmp_path, monkeypatch, capsys):
    out, results = tmp_path / "ab", tmp_path / "RESULTS.md"
    fake_run(out / "baseline-s0", [0.60, 0.61, 0.62, 0.63])
    monkeypatch.setattr(ablate.subprocess, "run", lambda *a, **k: pytest.fail(f"ran {a}"))
    assert ablate.main(["--data", "d", "--rows", "baseline,ema", "--seeds", "0,1", "--out", str(out),
                        "--results", str(results), "--table"]) == 0
    doc = results.read_text()
    assert "| baseline | 1 | 60.00% |" in doc and "| ema:" not in doc


@pytest.mark.parametrize("bad", ["nonsense", ""])
def test_an_unknown_row_is_a_clear_error(tmp_path, bad):
    with pytest.raises(SystemExit, match="unknown row|expected NAME=FLAGS"):
        ablate.main(["--data", "d", "--rows", "nonsense", "--out", str(tmp_path), "--dry-run"] if bad
                    else ["--data", "d", "--rows", "", "--change", "noequals", "--dry-run"])
