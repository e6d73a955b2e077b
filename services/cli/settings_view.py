"""How the settings CLI shows things: each setting with its value and meaning, and what a change did (pure)."""

from __future__ import annotations

from typing import Any

from services.cli.policy_view import _table


def _flag(value: Any) -> str:
    return str(value).lower()


def render_settings(shown: dict[str, Any]) -> str:
    """Every setting, its value, and what it does, under the policy version they belong to."""
    head = f"organisation settings, policy version {shown['version']}, changed {shown['updated_at']} by " \
           f"{shown['updated_by']}"  # fmt: skip
    rows = [["setting", "value"], *([name, _flag(value)] for name, value in shown["settings"].items())]
    meanings = shown.get("meanings", {})
    lines = [head, *("  " + line for line in _table(rows)), ""]
    lines += [f"  {name}: {meanings[name]}" for name in shown["settings"] if name in meanings]
    return "\n".join(lines)


def render_update(key: str, result: dict[str, Any]) -> str:
    """One line: the setting's value now, and whether it changed (with the old value) and in which version."""
    value = _flag(result["settings"][key])
    change = next((c for c in result.get("changes", []) if c.get("field") == key), None)
    if change is None:
        return f"{key}: {value} (unchanged, policy version {result['version']})"
    return f"{key}: {_flag(change['old'])} -> {value} (set, policy version {result['version']})"
