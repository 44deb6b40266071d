"""The code's layout, as STYLE.md and the README state it: packages never import one another or
the app, and the app's modules import each other without cycles (a reader can start at any
module and find its dependencies below it). Imports are read with `ast`, function-level ones
included. And every public name and every module file name is defined once across the packages
and the app, so a reader never wonders which `Genotype` or which `evaluation.py` is meant."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {  # import name: source folder
    path.name: path for path in sorted(ROOT.glob("packages/*/src/*")) if path.is_dir()
}
APP = ROOT / "apps" / "evopose" / "src" / "evopose"


def _imports(path: Path) -> list[tuple[str, int]]:
    """Every module a file imports (absolute names; relative ones resolved) with its line."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = _module_name(path).rpartition(".")[0]
    if path.name == "__init__.py":
        package = _module_name(path)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parent = ".".join(parts[: len(parts) - node.level + 1])
                base = f"{parent}.{base}" if base else parent
            # `from evopose import training` imports the module evopose.training, `from
            # evopose.config import Config` the module evopose.config: the graph keeps the
            # longest name that is a module.
            found += [(f"{base}.{alias.name}", node.lineno) for alias in node.names]
    return found


def _module_name(path: Path) -> str:
    src = next(p for p in path.parents if p.name == "src")
    parts = path.relative_to(src).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_the_package_list_is_the_projects():
    assert set(PACKAGES) == {"weightxfer", "evosearch", "posenets", "posedata", "cocoeval_tools"}


def test_no_package_imports_another_package_or_the_app():
    forbidden = {*PACKAGES, "evopose"}
    found = []
    for name, folder in PACKAGES.items():
        for path in sorted(folder.rglob("*.py")):
            for module, line in _imports(path):
                top = module.split(".")[0]
                if top in forbidden and top != name:
                    found.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    assert found == []


def _app_graph() -> dict[str, set[str]]:
    """The app's modules and the app modules each imports (a package `__init__` counts as the
    package; importing `evopose.x.y` also runs `evopose.x`, which is not an edge here)."""
    modules = {_module_name(path): path for path in sorted(APP.rglob("*.py"))}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        edges = set()
        for module, _ in _imports(path):
            while module and module not in modules:
                module = module.rpartition(".")[0]
            if module and module != name and module.startswith("evopose"):
                edges.add(module)
        graph[name] = edges
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_the_apps_modules_import_each_other_without_cycles():
    graph = _app_graph()
    assert "evopose.cli" in graph and "evopose.search.command" in graph
    assert _cycles(graph) == []


def test_the_apps_readme_lays_out_every_module_and_only_those():
    text = (APP.parents[1] / "README.md").read_text(encoding="utf-8")
    section = text.split("## How the code is laid out", 1)[1].split("\n## ", 1)[0]
    listed = {
        line.split("|")[1].strip().strip("`")
        for line in section.splitlines()
        if line.startswith("| `")
    }
    modules = {
        path.relative_to(APP).as_posix()
        for path in APP.rglob("*.py")
        if path.name not in ("__init__.py", "__main__.py")
    }
    assert listed == modules


# Names a module defines for itself by convention, read only through the module: its logger,
# a subcommand module's parser hook, a script's entry point.
PER_MODULE_NAMES = frozenset({"log", "logger", "add_parser", "main"})
# File names every package may have: the package itself, `python -m`, and the package's own
# exceptions (STYLE.md: each package raises its own, named after it).
SHARED_FILE_NAMES = frozenset({"__init__.py", "__main__.py", "errors.py"})


def _source_files() -> list[Path]:
    """Every module of the packages and the app."""
    return [path for folder in (*PACKAGES.values(), APP) for path in sorted(folder.rglob("*.py"))]


def _public_names(tree: ast.Module) -> list[str]:
    """The public names a module defines at its top level: classes, functions and assigned
    names (type aliases included), not `_private` ones nor ALL_CAPS constants (read as
    `module.NAME`; a few are copies across packages on purpose, checked by the seam tests)."""
    names = []
    for node in tree.body:
        if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            names.append(node.name)
        elif isinstance(node, ast.Assign):
            names += [target.id for target in node.targets if isinstance(target, ast.Name)]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.append(node.target.id)
    return [name for name in names if not name.startswith("_") and not name.isupper()]


def test_the_name_finder_finds_classes_functions_and_aliases():
    tree = ast.parse(
        "class Space: pass\ndef mutate(): pass\nGene = list[int]\nlog: object = 1\n_p = 1\n"
        "MAX_DRAWS = 2\nimport os\nfrom x import Y\n"
    )
    assert _public_names(tree) == ["Space", "mutate", "Gene", "log"]


def test_no_public_name_is_defined_in_two_modules():
    """A reader who meets `Genotype` or `EvalResult` never wonders which module's it is."""
    where: dict[str, list[str]] = {}
    for path in _source_files():
        if path.name.startswith("_") and not path.name.startswith("__"):
            continue  # a private module (`_writing.py`): its names are no package's API
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for name in _public_names(tree):
            if name not in PER_MODULE_NAMES:
                where.setdefault(name, []).append(path.relative_to(ROOT).as_posix())
    assert {name: paths for name, paths in where.items() if len(paths) > 1} == {}


def test_no_two_modules_share_a_file_name():
    """Four `evaluation.py` once made every reader open each to find the one meant."""
    where: dict[str, list[str]] = {}
    for path in _source_files():
        if path.name not in SHARED_FILE_NAMES:
            where.setdefault(path.name, []).append(path.relative_to(ROOT).as_posix())
    assert {name: paths for name, paths in where.items() if len(paths) > 1} == {}
