"""fer.compare: accuracy against minutes from the runs' own history files."""
import csv
import json

import pytest

from fer import compare


def fake_run(folder, preset, seconds, accuracies):
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"settings": {"preset": preset, "model": "xception"}}))
    with (folder / "history.csv").open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=["epoch", "seconds", "val_acc"])
        writer.writeheader()
        for epoch, (s, a) in enumerate(zip(seconds, accuracies), 1):
            writer.writerow({"epoch": epoch, "seconds": s, "val_acc": a})
    return folder


def test_minutes_are_cumulative_and_labels_name_the_preset(tmp_path):
    run = fake_run(tmp_path / "a", "fast", [60, 90, 30], [0.3, 0.5, 0.55])
    label, minutes, accuracy = compare.read_curve(run)
    assert label == "fast" and minutes == [1.0, 2.5, 3.0] and accuracy == [0.3, 0.5, 0.55]


def test_the_command_draws_every_run_and_prints_where_each_stood(tmp_path, capsys):
    runs = [fake_run(tmp_path / "a", "fast", [60, 60], [0.4, 0.6]),
            fake_run(tmp_path / "b", "fast", [120], [0.5]),
            fake_run(tmp_path / "c", "seed-cnn", [300, 300], [0.45, 0.61])]
    out = tmp_path / "plot.png"
    assert compare.main([str(r) for r in runs] + ["--out", str(out)]) == 0
    assert out.read_bytes().startswith(b"\x89PNG")
    lines = capsys.readouterr().out.splitlines()
    rows = {line.split()[0]: line.split()[1:] for line in lines[1:4]}
    assert rows == {"fast": ["2", "2.0", "60.00%", "60.00%"], "fast/b": ["1", "2.0", "50.00%", "50.00%"],
                    "seed-cnn": ["2", "10.0", "61.00%", "61.00%"]}


@pytest.mark.parametrize("broken", ["missing", "empty", "columns"])
def test_a_folder_that_is_not_a_run_is_a_clear_error(tmp_path, capsys, broken):
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    if broken == "empty":
        (folder / "history.csv").write_text("epoch,seconds,val_acc\n")
    elif broken == "columns":
        (folder / "history.csv").write_text("epoch,loss\n1,2.0\n")
    assert compare.main([str(folder), "--out", str(tmp_path / "x.png")]) == 2
    assert str(folder) in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()
