"""The packages depend on each other one way only.

``golden`` and ``hw`` import nothing else of exdisc; ``common`` (where results
go, progress, tables) imports nothing else of exdisc; ``sim`` uses ``hw``,
``golden`` and ``common``; ``synth`` uses ``hw`` and ``common``; the command
line sits on top of them all.

Read from the source with :mod:`ast`, not with import-linter: its graph
builder (grimp) takes a dotted root package only under a namespace parent,
and exdisc is a regular package whose subpackages come from four folders of
the checkout (``package-dir`` in pyproject.toml).
"""

import ast
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent

#: Package -> its folder in the checkout.
FOLDERS = {"exdisc.golden": "golden", "exdisc.hw": "hw", "exdisc.common": "exdisc/common",
           "exdisc.sim": "sim", "exdisc.synth": "synth", "exdisc.cli": "exdisc/cli"}

#: Package -> the packages of exdisc it may import (besides itself).
ALLOWED = {
    "exdisc.golden": set(),
    "exdisc.hw": set(),
    "exdisc.common": set(),
    "exdisc.sim": {"exdisc.hw", "exdisc.golden", "exdisc.common"},
    "exdisc.synth": {"exdisc.hw", "exdisc.common"},
    "exdisc.cli": {"exdisc.hw", "exdisc.golden", "exdisc.common", "exdisc.sim", "exdisc.synth"},
}

#: The names the packages had before they lived under one namespace.
OLD_TOP_LEVEL = {"hw", "golden", "sim", "synth"}


def _module_name(package, folder, path):
    rel = path.relative_to(ROOT / folder).with_suffix("")
    parts = [p for p in rel.parts if p != "__init__"]
    return ".".join([package, *parts])


def imports_of(package):
    """``(file, line, imported module)`` of every import in ``package``'s files,
    relative imports resolved."""
    folder = FOLDERS[package]
    out = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        name = _module_name(package, folder, path)
        is_init = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                out += [(path, node.lineno, alias.name) for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = name.split(".")
                    base = base[:len(base) - node.level + (1 if is_init else 0)]
                    module = ".".join(base + ([node.module] if node.module else []))
                else:
                    module = node.module
                out.append((path, node.lineno, module))
    return out


def _owner(module):
    """The package of FOLDERS that ``module`` belongs to, or None."""
    for package in FOLDERS:
        if module == package or module.startswith(package + "."):
            return package
    return None


@pytest.mark.parametrize("package", sorted(FOLDERS))
def test_package_imports_only_what_its_layer_allows(package):
    bad = []
    for path, line, module in imports_of(package):
        where = f"{path.relative_to(ROOT)}:{line}"
        if module.split(".")[0] in OLD_TOP_LEVEL:
            bad.append(f"{where} imports {module} (an old top-level name; use exdisc.{module})")
            continue
        owner = _owner(module)
        if module.startswith("exdisc") and owner is None and module != "exdisc":
            bad.append(f"{where} imports {module}, which is in no package of the layering")
        elif owner and owner != package and owner not in ALLOWED[package]:
            bad.append(f"{where}: {package} imports {module}")
    assert not bad, "\n".join(bad)


def test_every_module_is_in_a_checked_package():
    """A new folder or top-level module of exdisc must be placed in the layering."""
    known = {(ROOT / folder).resolve() for folder in FOLDERS.values()}
    top = {p.name for p in (ROOT / "exdisc").glob("*.py")}
    assert top <= {"__init__.py", "__main__.py"}, top
    assert {p.resolve() for p in (ROOT / "exdisc").iterdir() if p.is_dir()
            and p.name != "__pycache__"} <= known


def test_the_check_finds_a_violation(tmp_path, monkeypatch):
    """The reader resolves relative imports: hw importing ..sim is caught."""
    folder = tmp_path / "hw"
    folder.mkdir()
    (folder / "__init__.py").write_text("")
    (folder / "bad.py").write_text("from ..sim.harness import runner\nimport exdisc.golden.lod\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    found = [m for _, _, m in imports_of("exdisc.hw")]
    assert found == ["exdisc.sim.harness", "exdisc.golden.lod"]
    assert _owner(found[0]) not in ALLOWED["exdisc.hw"]
