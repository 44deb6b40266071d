"""The code's layout, as STYLE.md and the README state it: packages never import one another or
the app, and the app's modules import each other without cycles (a reader can start at any
module and find its dependencies below it). Imports are read with `ast`, function-level ones
included."""

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
