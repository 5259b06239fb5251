"""The statuses each route of the emulator can answer, read from its source (AST): literal
statuses of `AllegroError`, `respond`, `Response` and `query_int`, through the package
functions the route calls, plus what the shared request helpers answer. An over-approximation
where a helper serves several routes; `UNREACHABLE` lists those pairs, with the reason."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

from fastapi.routing import APIRoute

import allegro_emulator

PACKAGE = Path(allegro_emulator.__file__).parent
# What the shared request helpers answer themselves (web.py, errors.py).
HELPERS = {
    "seller": {401, 403, 429},
    "caller": {401, 429},
    "body_json": {400},
    "not_found": {404},
    "too_many_requests": {429},
}


class _Module:
    def __init__(self, name: str) -> None:
        tree = ast.parse((PACKAGE / f"{name}.py").read_text())
        self.functions = {
            n.name: n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
        }
        # Imported names: name -> module it comes from (inside the package).
        self.imports: dict[str, str] = {}
        for node in tree.body:
            if not isinstance(node, ast.ImportFrom) or node.module is None:
                continue
            if node.module.startswith("allegro_emulator."):
                for alias in node.names:
                    self.imports[alias.asname or alias.name] = node.module.split(".", 1)[1]
            if node.module == "allegro_emulator":
                for alias in node.names:
                    self.imports[f"module:{alias.asname or alias.name}"] = alias.name


_modules: dict[str, _Module] = {}


def _module(name: str) -> _Module | None:
    if name not in _modules:
        if not (PACKAGE / f"{name}.py").exists():
            return None
        _modules[name] = _Module(name)
    return _modules[name]


def _literal(node: ast.expr | None) -> int | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, int) else None


def _statuses(module: str, function: str, seen: set[tuple[str, str]]) -> set[int]:
    if (module, function) in seen:
        return set()
    seen.add((module, function))
    mod = _module(module)
    if mod is None or function not in mod.functions:
        return set()
    found: set[int] = set()
    for call in ast.walk(mod.functions[function]):
        if not isinstance(call, ast.Call):
            continue
        keywords = {k.arg: k.value for k in call.keywords}
        if isinstance(call.func, ast.Attribute) and isinstance(call.func.value, ast.Name):
            target_module = mod.imports.get(f"module:{call.func.value.id}")
            name = call.func.attr
            if target_module:
                found |= HELPERS.get(name, set()) or _statuses(target_module, name, seen)
            continue
        if not isinstance(call.func, ast.Name):
            continue
        name = call.func.id
        if name == "AllegroError" and call.args:
            found.add(_literal(call.args[0]) or 0)
        elif name == "respond":
            status = call.args[1] if len(call.args) > 1 else keywords.get("status")
            found.add(_literal(status) or 200 if status is None else _literal(status) or 0)
        elif name == "Response":
            found.add(_literal(keywords.get("status_code")) or 200)
        elif name == "no_content":
            found.add(204)
        elif name in ("query_int", "validation"):
            found.add(_literal(keywords.get("status")) or 422)
        elif name in HELPERS:
            found |= HELPERS[name]
        elif name in mod.functions:
            found |= _statuses(module, name, seen)
        elif name in mod.imports:
            found |= _statuses(mod.imports[name], name, seen)
    found.discard(0)
    return found


def possible_statuses(modules: list[str]) -> dict[tuple[str, str], set[int]]:
    result = {}
    for name in modules:
        router = importlib.import_module(f"allegro_emulator.{name}").router
        for route in router.routes:
            assert isinstance(route, APIRoute)
            statuses = _statuses(name, route.endpoint.__name__, set())
            for method in route.methods or ():
                result[(method, route.path)] = statuses
    return result
