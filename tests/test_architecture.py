"""Architecture checks of the ``lmmext`` package, from its source (``ast``, no imports).

The package is split into layer folders, lowest first:

0. ``lmmext.structures``  -- variance functions and correlation structures
1. ``lmmext.engine``      -- likelihood, gradient, optimizer
2. ``lmmext.inference``   -- tests, degrees of freedom, intervals
3. ``lmmext.results``     -- fitted-model results
4. ``lmmext.diagnostics`` -- variograms, ACF, plots
5. everything else        -- ``lmmext`` itself, ``lmmext.model``, ``lmmext.frame``, ...

Rule: an import may point to the same or a lower layer.  An import done lazily (inside
a ``def``) may point upward only when listed in ``ALLOWED_UPWARD``.  The import graph has
no cycle, structures need only the standard library and the numeric stack, and no module
is longer than ``HARD_LIMIT`` lines.
"""
import ast
import functools
import subprocess
import sys
from pathlib import Path

PKG_ROOT = Path(__file__).resolve().parents[1] / "lmmext"

LAYERS = {"structures": 0, "engine": 1, "inference": 2, "results": 3, "diagnostics": 4}
TOP_RANK = 5

# (importer, imported) -> reason.  For convenience methods that lazily call a higher
# layer, such as ``fit.variogram()`` in results calling diagnostics.  Eager upward
# imports are never allowed; an entry that no longer matches a lazy upward import fails.
ALLOWED_UPWARD = {
    ("lmmext.results.core", "lmmext.diagnostics.variogram"):
        "fit.variogram(), nlme's Variogram(fit) as a method",
    ("lmmext.results.core", "lmmext.diagnostics.acf"): "fit.acf(), nlme's ACF(fit) as a method",
}

STRUCTURES_THIRD_PARTY = {"numpy", "scipy", "pandas", "patsy"}
HARD_LIMIT = 800
SOFT_LIMIT = 600  # aim for this; only HARD_LIMIT is tested


def collect_modules(root=PKG_ROOT):
    """Map the dotted name of every module under `root` to its path.

    A package is named by its folder (``pkg/__init__.py`` is ``pkg``).
    """
    root = Path(root)
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _import_nodes(tree):
    """Yield ``(node, lazy)`` for every import statement in `tree`.

    Lazy means nested inside a function: it runs when called, not at import.  Imports
    in module-level ``try``/``if`` and class bodies run at import, so they are eager.
    """
    stack = [(tree, False)]
    while stack:
        node, lazy = stack.pop()
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                yield child, lazy
            inner = isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            stack.append((child, lazy or inner))


def _targets(node, name, is_package, modules, top):
    """Yield the internal modules that import `node` in module `name` reaches."""
    def internal(dotted):
        return dotted == top or dotted.startswith(top + ".")

    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names if internal(alias.name))
        return
    if node.module == "__future__":
        return
    if node.level:
        # The package a relative import starts from: the module's own for __init__.
        parts = (name if is_package else name.rpartition(".")[0]).split(".")
        if node.level > len(parts):
            return  # beyond the top-level package: an ImportError at run time
        base = ".".join(parts[:len(parts) - node.level + 1])
        if node.module:
            base = f"{base}.{node.module}"
    elif internal(node.module):
        base = node.module
    else:
        return
    for alias in node.names:
        # ``from pkg import name`` imports the submodule pkg.name when there is one.
        sub = f"{base}.{alias.name}"
        yield sub if sub in modules else base


@functools.lru_cache(maxsize=None)
def build_graph(root=PKG_ROOT):
    """Imports between the modules under `root`, and their outside imports.

    Returns
    -------
    edges : set of (importer, imported, kind)
        `kind` is ``"eager"`` or ``"lazy"``; names are dotted module names.
    external : dict
        Module name -> set of top-level names of its absolute non-package imports.
    """
    modules = collect_modules(root)
    top = Path(root).name
    edges, external = set(), {name: set() for name in modules}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        is_package = path.name == "__init__.py"
        for node, lazy in _import_nodes(tree):
            kind = "lazy" if lazy else "eager"
            for target in _targets(node, name, is_package, modules, top):
                edges.add((name, target, kind))
            if isinstance(node, ast.Import):
                external[name].update(a.name.split(".")[0] for a in node.names)
            elif not node.level:
                external[name].add(node.module.split(".")[0])
        external[name] -= {top, "__future__"}
    return edges, external


def _is_ancestor(package, module):
    return module.startswith(package + ".")


def find_cycle(graph):
    """Return one cycle of `graph` as ``[a, b, ..., a]``, or None if it is acyclic.

    `graph` maps a node to the nodes it points to.  Iterative DFS with three colours;
    neighbours are visited in sorted order so the cycle reported is reproducible.
    """
    WHITE, GREY, BLACK = 0, 1, 2
    colour = {}
    for start in sorted(graph):
        if colour.get(start, WHITE) != WHITE:
            continue
        path, stack = [start], [iter(sorted(graph.get(start, ())))]
        colour[start] = GREY
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                colour[path.pop()] = BLACK
                stack.pop()
            elif colour.get(nxt, WHITE) == GREY:
                return path[path.index(nxt):] + [nxt]
            elif colour.get(nxt, WHITE) == WHITE:
                colour[nxt] = GREY
                path.append(nxt)
                stack.append(iter(sorted(graph.get(nxt, ()))))
    return None


def all_cycles(graph):
    """Cycles found by repeatedly breaking the last edge of one, so all get reported."""
    graph = {node: set(targets) for node, targets in graph.items()}
    cycles = []
    while (cycle := find_cycle(graph)) is not None:
        cycles.append(cycle)
        graph[cycle[-2]].discard(cycle[-1])
    return cycles


def import_graph(root=PKG_ROOT):
    """Importer -> imported, all kinds, without imports of a module's own ancestor.

    Python handles ``X -> P`` for a package P containing X (P is mid-import already),
    so it is left to `test_no_import_of_own_package_init` rather than counted a cycle.
    """
    graph = {name: set() for name in collect_modules(root)}
    for src, dst, _ in build_graph(root)[0]:
        if not _is_ancestor(dst, src):
            graph.setdefault(src, set()).add(dst)
    return graph


def rank(module):
    """Layer of a dotted module name: its first component after the top package."""
    parts = module.split(".")
    return LAYERS.get(parts[1], TOP_RANK) if len(parts) > 1 else TOP_RANK


def test_find_cycle_detects_cycles():
    assert find_cycle({"a": ["b"], "b": ["a"]}) == ["a", "b", "a"]
    assert find_cycle({"a": ["b"], "b": ["c"], "c": ["a"]}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": ["b", "c"], "b": ["d"], "c": ["d"], "d": []}) is None
    assert find_cycle({"a": ["a"]}) == ["a", "a"]
    # a cycle not reachable from the first node, and targets missing as keys
    assert find_cycle({"a": ["x"], "b": ["c"], "c": ["b", "y"]}) == ["b", "c", "b"]
    assert find_cycle({}) is None


def test_no_import_cycle():
    cycles = all_cycles(import_graph())
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_no_import_of_own_package_init():
    # The top package is the public API itself: lmmext.validation evaluates the reference
    # cases' code in its namespace.  Inside the layers, siblings import each other directly.
    top = PKG_ROOT.name
    bad = sorted(f"{src} -> {dst} ({kind})" for src, dst, kind in build_graph()[0]
                 if _is_ancestor(dst, src) and dst != top)
    assert not bad, ("modules import their own package's __init__; import the "
                     "defining submodule instead:\n" + "\n".join(bad))


def test_imports_point_down():
    edges = build_graph()[0]
    upward = {(src, dst, kind) for src, dst, kind in edges if rank(dst) > rank(src)}
    bad = sorted(f"{src} -> {dst} ({kind})" for src, dst, kind in upward
                 if kind == "eager" or (src, dst) not in ALLOWED_UPWARD)
    lazy_upward = {(src, dst) for src, dst, kind in upward if kind == "lazy"}
    bad += sorted(f"stale ALLOWED_UPWARD entry: {src} -> {dst} is no lazy upward import"
                  for src, dst in ALLOWED_UPWARD if (src, dst) not in lazy_upward)
    assert not bad, "imports pointing up the layers:\n" + "\n".join(bad)


def test_structures_third_party():
    allowed = set(sys.stdlib_module_names) | STRUCTURES_THIRD_PARTY
    external = build_graph()[1]
    bad = sorted(f"{name} imports {pkg}" for name, pkgs in external.items()
                 if rank(name) == LAYERS["structures"] for pkg in pkgs - allowed)
    assert not bad, "structures depend on more than the numeric stack:\n" + "\n".join(bad)


def test_module_size():
    sizes = {name: len(path.read_text(encoding="utf-8").splitlines())
             for name, path in collect_modules().items()}
    bad = sorted(f"{name}: {n} lines" for name, n in sizes.items() if n > HARD_LIMIT)
    assert not bad, f"modules over {HARD_LIMIT} lines:\n" + "\n".join(bad)


def test_core_imports_without_optional_dependencies():
    # A fresh interpreter: this session may have imported matplotlib already.
    code = ("import sys, lmmext; "
            "print(' '.join(m for m in ('matplotlib', 'dask') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=PKG_ROOT.parent,
                          capture_output=True, text=True)
    assert proc.returncode == 0, f"`import lmmext` failed:\n{proc.stderr}"
    out = proc.stdout.strip()
    assert not out, f"`import lmmext` imports optional dependencies: {out}"


def test_layer_folders_exist():
    missing = [f"lmmext/{layer}/__init__.py" for layer in LAYERS
               if not (PKG_ROOT / layer / "__init__.py").is_file()]
    assert not missing, "missing layer packages: " + ", ".join(missing)
