"""Google's field masks (``fields=sheets.properties`` or ``sheets(properties(title))``).

gspread asks spreadsheets.get for a few fields only; the fake answers the same subset Google
would, so a client that reads a field it did not ask for fails here as it would there.
"""

from __future__ import annotations

from typing import Any


def mask(value: Any, fields: str) -> Any:
    """Apply a Google field mask such as ``sheets.properties,properties.title`` or
    ``sheets(properties(sheetId,title))`` to a response."""
    return _apply_mask(value, _parse_mask(fields))


def _parse_mask(text: str) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    i = 0

    def parse(level: dict[str, Any]) -> None:
        nonlocal i
        name = ""
        path: list[str] = []
        while i < len(text):
            ch = text[i]
            i += 1
            if ch in ",)":
                if name or path:
                    _put(level, [*path, name] if name else path)
                name, path = "", []
                if ch == ")":
                    return
            elif ch == ".":
                path.append(name)
                name = ""
            elif ch == "(":
                node = level
                for part in [*path, name]:
                    node = node.setdefault(part, {})
                parse(node)
                name, path = "", []
            elif not ch.isspace():
                name += ch
        if name or path:
            _put(level, [*path, name] if name else path)

    parse(tree)
    return tree


def _put(level: dict[str, Any], path: list[str]) -> None:
    node = level
    for part in path[:-1]:
        node = node.setdefault(part, {})
    node.setdefault(path[-1], {})


def _apply_mask(value: Any, tree: dict[str, Any]) -> Any:
    if not tree or "*" in tree:
        return value
    if isinstance(value, list):
        return [_apply_mask(v, tree) for v in value]
    if not isinstance(value, dict):
        return value
    return {k: _apply_mask(v, tree[k]) for k, v in value.items() if k in tree}
