"""fer's layout rule: a module at the top of fer/ is a command (it has a main()), everything else
lives in a sub-package, no two modules share a name, and no fer module imports another in a circle.

The imports are read with ast (nothing is imported), the ones inside functions included: an import
circle through a lazy import still fails at the first call that closes it.
"""
import ast
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FER = ROOT / "fer"
NOT_COMMANDS = {"__init__", "errors"}


def module_name(path):
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(FER.rglob("*.py"))}


def fer_imports(name, path, modules=MODULES):
    """The fer modules (of ``modules``) that the module ``name`` (at ``path``) imports, anywhere in it."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[:len(package.split(".")) - node.level + 1] if node.level else []
            source = ".".join(base + ([node.module] if node.module else []))
            found.add(source)
            found.update(f"{source}.{alias.name}" for alias in node.names)   # a module imported by name
    # a module's own packages are imported before it runs (their __init__ importing it is no circle)
    ancestors = {".".join(name.split(".")[:k]) for k in range(1, name.count(".") + 1)}
    return {m for m in found if m in modules and m != name and m not in ancestors}


def test_every_top_level_module_is_a_command():
    for path in FER.glob("*.py"):
        if path.stem in NOT_COMMANDS:
            continue
        functions = {node.name for node in ast.parse(path.read_text()).body if isinstance(node, ast.FunctionDef)}
        assert "main" in functions, f"fer/{path.name} is at the top of fer/ but has no main(): move it to a sub-package"


def test_every_sub_package_says_what_it_holds():
    for init in FER.glob("*/__init__.py"):
        assert ast.get_docstring(ast.parse(init.read_text())), f"{init.relative_to(ROOT)} has no docstring"


def test_no_two_modules_share_a_name():
    names = Counter(p.stem for p in FER.rglob("*.py") if not p.stem.startswith("__"))
    assert not [n for n, count in names.items() if count > 1]


def test_no_import_circle():
    graph = {name: fer_imports(name, path) for name, path in MODULES.items()}
    assert "fer.training.runs" in graph["fer.cli.common"]          # the reader sees lazy imports too
    state = {}                                                       # 1: on the current path, 2: done

    def visit(name, path):
        state[name] = 1
        for target in sorted(graph[name]):
            if state.get(target) == 1:
                circle = path[path.index(target):] + [name, target]
                pytest.fail("import circle: " + " -> ".join(circle))
            if target not in state:
                visit(target, path + [name])
        state[name] = 2

    for name in graph:
        if name not in state:
            visit(name, [])


def test_the_circle_finder_finds_one(tmp_path):
    """The reader resolves relative imports: a.py and b.py importing each other are seen as a circle."""
    package = tmp_path / "fer" / "pkg"
    package.mkdir(parents=True)
    (package / "a.py").write_text("def f():\n    from .b import g\n")
    (package / "b.py").write_text("from ..pkg import a\n")
    modules = {"fer.pkg.a": package / "a.py", "fer.pkg.b": package / "b.py"}
    assert fer_imports("fer.pkg.a", package / "a.py", modules) == {"fer.pkg.b"}
    assert fer_imports("fer.pkg.b", package / "b.py", modules) == {"fer.pkg.a"}


@pytest.mark.parametrize("command", ["train", "evaluate", "predict", "saliency", "filters", "compare", "report",
                                     "serve"])
def test_every_command_answers_help(command):
    done = subprocess.run([sys.executable, "-m", f"fer.{command}", "--help"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"python -m fer.{command}" in done.stdout
