"""The run folders a report reads: which runs were given, and their files.

A report compares at most one CNN (any convolutional network: the seed CNN, the VGG-style
net, the mini-Xception) with one DNN; :func:`load_runs` finds them and
:class:`Run` reads their files (:mod:`fer.training.runs` describes a run folder).
"""
import csv
import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import DataError, UsageError
from ..training.runs import read_config
from .document import Figure

ROLES = {"cnn": "CNN", "dnn": "DNN"}
ROLE_OF_MODEL = {"cnn": "cnn", "vgg": "cnn", "xception": "cnn", "dnn": "dnn"}  # the other conv nets are CNNs too


@dataclass
class Run:
    """One training run folder and what the report reads from it."""
    folder: Path
    config: dict

    @property
    def model(self):
        return self.config["settings"]["model"]

    @property
    def role(self):
        return ROLE_OF_MODEL.get(self.model, self.model)

    @property
    def title(self):
        name = ROLES.get(self.role, self.model.upper())
        return name if self.model == self.role else f"{name} ({self.model})"

    def file(self, relative):
        """``folder/relative`` if it exists, else None."""
        path = self.folder / relative
        return path if path.exists() else None

    def json(self, relative):
        path = self.file(relative)
        return None if path is None else json.loads(path.read_text())

    def history(self):
        """history.csv as a list of {column: float}; [] when absent."""
        path = self.file("history.csv")
        if path is None:
            return []
        with open(path, newline="") as f:
            return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]

    def figure(self, relative, caption):
        """A :class:`Figure` of ``folder/relative``, or None when the PNG is absent."""
        path = self.file(relative)
        return None if path is None else Figure(path, f"{self.role}-{Path(relative).name}", caption)


def run_folders(paths):
    """The training run folders named by ``paths``: a run folder (it has config.json), or
    a folder of runs (``fer.train --model both --out DIR`` writes DIR/cnn and DIR/dnn)."""
    folders = []
    for path in map(Path, paths):
        if not path.is_dir():
            raise DataError(f"{path}: no such run folder")
        if (path / "config.json").is_file():
            folders.append(path)
            continue
        inside = sorted(p for p in path.iterdir() if (p / "config.json").is_file())
        if not inside:
            raise DataError(f"{path}: not a training run folder (no config.json), and no run folders inside it")
        folders.extend(inside)
    return folders


def load_runs(paths):
    """{role: Run} for the runs named by ``paths``; at most one CNN and one DNN."""
    runs = {}
    for folder in run_folders(paths):
        run = Run(folder, read_config(folder))
        if run.role in runs:
            raise UsageError(f"two {run.title} runs given ({runs[run.role].folder} and {folder}); "
                             f"the report compares one CNN with one DNN")
        runs[run.role] = run
    return runs
