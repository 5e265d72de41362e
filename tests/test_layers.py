"""The library's floors, read from every import (those inside functions too): no cycle, no import that goes up,
and lesson code reaches the engine only through the client.

    floor 0  config, files                          settings and safe file writes
    floor 1  runtime.chat_format, runtime.weights,  the model's files, how chat becomes text,
             runtime.lora_gguf, runtime.encoder,    the shipped data and prices
             datasets, pricing
    floor 2  runtime.engine                         llama.cpp in this process
    floor 3  runtime.server                         the OpenAI-compatible API over it
    floor 4  llm, embeddings                        the client (and its facade for the local model)
    floor 5  lesson helpers                         prompting, chunking, retrieval, rag, sql, finetune, ...
    floor 6  exercises                              each lesson's questions
    floor 7  tools                                  doctor, validate, notebooks, publish, the command line

A module may import its own floor or any floor below; floors 5 and 6 never import runtime.engine or
runtime.server (they use `llm.local_engine(client)`).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "course_lib"
FLOORS = {
    "config": 0, "files": 0,
    "runtime": 1, "runtime.chat_format": 1, "runtime.weights": 1, "runtime.lora_gguf": 1, "runtime.encoder": 1,
    "datasets": 1, "pricing": 1,
    "runtime.engine": 2,
    "runtime.server": 3,
    "llm": 4, "embeddings": 4,
    "prompting": 5, "chunking": 5, "retrieval": 5, "rag_metrics": 5, "rag": 5, "sql": 5, "assistant": 5,
    "widgets": 5, "checks": 5, "finetune": 5,
    "exercises": 6,
    "doctor": 7, "validate": 7, "notebooks": 7, "publish": 7, "export": 7, "__main__": 7, "": 7,
}
ENGINE = ("runtime.engine", "runtime.server")  # what lesson code (floors 5 and 6) reaches only through the client


def module_names() -> dict[str, Path]:
    """Every module of the package outside data/, by its dotted name below course_lib ('' is the package)."""
    names = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts[0] == "data":
            continue
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


def floor(name: str) -> int:
    """The floor of a module: its own entry, else its package's (finetune.training is on finetune's floor)."""
    while name not in FLOORS:
        name = name.rpartition(".")[0]
    return FLOORS[name]


def import_graph() -> dict[str, set[str]]:
    """module -> the package modules it imports, anywhere in its body."""
    names = module_names()
    graph: dict[str, set[str]] = {name: set() for name in names}
    for name, path in names.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [a.name.removeprefix("course_lib").lstrip(".") for a in node.names
                           if a.name == "course_lib" or a.name.startswith("course_lib.")]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".") if package else []
                    base = base[:len(base) - node.level + 1]
                    module = ".".join([*base, *([node.module] if node.module else [])])
                elif node.module and (node.module == "course_lib" or node.module.startswith("course_lib.")):
                    module = node.module.removeprefix("course_lib").lstrip(".")
                else:
                    continue
                # `from pkg import sub` imports the submodule; `from mod import name` imports mod
                subs = [sub for a in node.names if (sub := f"{module}.{a.name}".lstrip(".")) in names]
                targets = subs if len(subs) == len(node.names) else [module]
            else:
                continue
            graph[name].update(t for t in targets if t != name and t in names)
    return graph


def test_every_module_has_a_floor():
    unplaced = [name for name in module_names() if not any(name == f or name.startswith(f + ".") for f in FLOORS)]
    assert not unplaced, f"give these modules a floor in FLOORS: {unplaced}"


def test_no_import_goes_up_a_floor():
    up = [f"{a} (floor {floor(a)}) imports {b} (floor {floor(b)})"
          for a, targets in import_graph().items() for b in targets if floor(b) > floor(a)]
    assert not up, "\n".join(up)


def test_lesson_code_reaches_the_engine_only_through_the_client():
    reach = [f"{a} imports {b}" for a, targets in import_graph().items() if floor(a) in (5, 6)
             for b in targets if b in ENGINE]
    assert not reach, "\n".join(reach) + "\nuse llm.local_engine(client) or the client instead"


def test_no_import_cycle():
    graph, state, cycles = import_graph(), {}, []

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycles.append(" -> ".join(path[path.index(nxt):] + [nxt]) if nxt in path else f"{node} -> {nxt}")
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles, "\n".join(cycles)


def test_the_graph_sees_imports_inside_functions():
    """The checks above would pass vacuously if the reader missed imports; these edges exist."""
    graph = import_graph()
    assert "runtime.engine" in graph["runtime.server"] and "llm" in graph["embeddings"]
    assert "finetune.training" in graph["finetune.adapters"] and "datasets" in graph["sql"]


def test_no_module_outside_data_holds_more_than_about_400_lines():
    long = {name: n for name, path in module_names().items() if (n := len(path.read_text().splitlines())) > 420}
    assert not long, long


def test_the_data_generators_are_never_imported_or_run_by_the_library():
    """The generators under data/ are scripts for maintainers (their outputs ship as data): the library loads no
    file as code at run time."""
    loaders = ("spec_from_file_location", "run_path", "exec_module", "sys.path.insert")
    found = [f"{name}: {word}" for name, path in module_names().items() for word in loaders
             if word in path.read_text(encoding="utf-8")]
    assert not found, found
