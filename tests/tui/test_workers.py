"""Textual describes a worker by its method's arguments unless told otherwise, and logs that
description (`app.log.worker`): a worker given a password, a token or an answer must carry a
description of its own, or the secret reaches Textual's log."""

from __future__ import annotations

import ast
from pathlib import Path

import runway.tui

TUI = Path(runway.tui.__file__).parent


def _work_decorator(function: ast.AsyncFunctionDef | ast.FunctionDef) -> ast.expr | None:
    for decorator in function.decorator_list:
        called = decorator.func if isinstance(decorator, ast.Call) else decorator
        if isinstance(called, ast.Name) and called.id == "work":
            return decorator
    return None


def test_every_worker_with_arguments_has_a_description_of_its_own():
    undescribed = []
    for path in sorted(TUI.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.AsyncFunctionDef | ast.FunctionDef):
                continue
            decorator = _work_decorator(node)
            if decorator is None or len(node.args.args) <= 1:  # `self` alone
                continue
            keywords = decorator.keywords if isinstance(decorator, ast.Call) else []
            if not any(keyword.arg == "description" for keyword in keywords):
                undescribed.append(f"{path.relative_to(TUI)}:{node.lineno} {node.name}")
    assert undescribed == []
