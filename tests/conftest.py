"""Shared test setup: make the tests folder importable (test_autograd reads test_ops.CASES)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
