"""Every runnable companion of docs/TOUR.md (docs/tour/*.py) runs and checks what it shows."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted((ROOT / "docs" / "tour").glob("*.py"))


def test_the_tour_has_its_scripts():
    assert [p.name for p in SCRIPTS] == ["01_autograd.py", "02_convolution.py", "03_training_step.py",
                                         "04_fusion.py"]


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_tour_script_runs(script):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NUMBA_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip()


def test_the_training_step_runs_on_the_reference_backend():
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MINIGRAD_BACKEND": "reference", "NUMBA_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(ROOT / "docs" / "tour" / "03_training_step.py")], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("backend reference:")
