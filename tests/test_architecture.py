"""The import contract: layers import downwards only, no cycles (lazy imports too), heavy libraries in their place."""

from __future__ import annotations

import ast
import pathlib

PKG = pathlib.Path(__file__).resolve().parent.parent / "luigi_guild"

# Bottom to top. A module may import its own layer (without cycles) and the layers below.
LAYERS = ["model", "project", "store", "run", "sweeps", "faces"]
FACES = {"tasks", "targets", "remote", "commands", "web", "cli", "entry", "exits", "op_main", "__main__"}


def _module_name(path: pathlib.Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    name = ".".join(rel.parts)
    return name[: -len(".__init__")] if name.endswith(".__init__") else name


def _layer(module: str) -> int:
    parts = module.split(".")
    if len(parts) == 1:
        return 0  # the package itself: its version only
    top = parts[1]
    if top in FACES:
        return LAYERS.index("faces")
    assert top in LAYERS, "module %s is in no layer: add it to LAYERS or FACES in this test" % module
    return LAYERS.index(top)


def _imports(path: pathlib.Path, module: str) -> tuple[set[str], set[str]]:
    """(package modules, external top-level names) imported anywhere in the module, at any depth."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    ours: set[str] = set()
    external: set[str] = set()
    is_pkg = path.name == "__init__.py"
    for node in _walk_runtime(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_pkg else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            names = [prefix] + [prefix + "." + a.name for a in node.names]
        for name in names:
            if name.split(".")[0] == "luigi_guild":
                ours.add(name)
            elif name:
                external.add(name.split(".")[0])
    return ours, external


def _walk_runtime(tree: ast.AST) -> list[ast.AST]:
    """Every node that can run: ``if TYPE_CHECKING:`` blocks (annotations only) are left out."""
    found: list[ast.AST] = []
    todo = [tree]
    while todo:
        node = todo.pop()
        found.append(node)
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and getattr(child.test, "id", getattr(child.test, "attr", None)) == "TYPE_CHECKING":
                todo.extend(child.orelse)
                continue
            todo.append(child)
    return found


def _graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    modules = {_module_name(p): p for p in PKG.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    externals: dict[str, set[str]] = {}
    for mod, path in modules.items():
        ours, ext = _imports(path, mod)
        targets = set()
        for name in ours:
            while name and name not in modules:
                name = name.rpartition(".")[0]
            # A package importing its own submodules (or a module its parent package) is no edge.
            if name and name != mod and not name.startswith(mod + ".") and not mod.startswith(name + "."):
                targets.add(name)
        graph[mod] = targets
        externals[mod] = ext
    return graph, externals


def test_layers_import_downwards_only():
    graph, _ = _graph()
    leaks = sorted(
        "%s (%s) imports %s (%s)" % (mod, LAYERS[_layer(mod)], dep, LAYERS[_layer(dep)])
        for mod, deps in graph.items()
        for dep in deps
        if _layer(dep) > _layer(mod)
    )
    assert leaks == []


def test_no_import_cycles():
    graph, _ = _graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert cycles == []


def test_luigi_only_under_tasks_and_ssh_libraries_only_under_remote():
    _, externals = _graph()
    luigi_out = sorted(m for m, ext in externals.items() if "luigi" in ext and not m.startswith("luigi_guild.tasks"))
    ssh_out = sorted(
        m for m, ext in externals.items() if ext & {"fabric", "paramiko", "invoke"} and not m.startswith("luigi_guild.remote")
    )
    assert (luigi_out, ssh_out) == ([], [])


def test_every_module_says_what_it_owns():
    missing = []
    for path in sorted(PKG.rglob("*.py")):
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
        if not doc or not doc.strip().splitlines()[0].strip():
            missing.append(str(path.relative_to(PKG.parent)))
    assert missing == []


def test_the_contract_test_sees_a_violation(tmp_path, monkeypatch):
    """The checks above can fail: a model module importing the run layer is reported."""
    fake = tmp_path / "luigi_guild"
    (fake / "model").mkdir(parents=True)
    (fake / "run").mkdir()
    (fake / "__init__.py").write_text('"""x"""\n')
    (fake / "model" / "__init__.py").write_text('"""x"""\n')
    (fake / "run" / "__init__.py").write_text('"""x"""\n')
    (fake / "model" / "a.py").write_text('"""a"""\ndef f():\n    from luigi_guild.run import b\n')
    (fake / "run" / "b.py").write_text('"""b"""\nfrom luigi_guild.model import a\n')
    monkeypatch.setattr(__import__(__name__), "PKG", fake)
    graph, _ = _graph()
    assert "luigi_guild.run.b" in graph["luigi_guild.model.a"]
    assert "luigi_guild.model.a" in graph["luigi_guild.run.b"]
    assert _layer("luigi_guild.run.b") > _layer("luigi_guild.model.a")


def module_lines() -> list[str]:
    """README's architecture list: one line per module, its docstring's first line."""
    lines = []
    for path in sorted(PKG.rglob("*.py")):
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        lines.append("- `%s`: %s" % (path.relative_to(PKG.parent), doc.strip().splitlines()[0] if doc.strip() else ""))
    return lines


def test_readme_architecture_lists_every_module_with_its_docstring_line():
    readme = (PKG.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Architecture", 1)[1]
    missing = [line for line in module_lines() if line not in section.splitlines()]
    assert missing == [], "update README's architecture section:\n" + "\n".join(missing)
