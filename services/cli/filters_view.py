"""How `fieldsync filters show|preview` print a user's sync filters and a filter's preview (pure)."""

from __future__ import annotations

from typing import Any


def condition_text(condition: dict[str, Any]) -> str:
    values = condition["values"]
    shown = "" if not values else f" {values[0]}" if len(values) == 1 else f" ({', '.join(values)})"
    return f"{condition['attribute']} {condition['operator']}{shown}"


def group_text(group: dict[str, Any] | None, nested: bool = False) -> str:
    """A parsed filter as one line: `ownerid eq-userid and (jobtitle eq Buyer or statecode eq 1)`."""
    if group is None:
        return "every record"
    parts = [condition_text(c) for c in group["conditions"]] + [group_text(g, True) for g in group["filters"]]
    if not parts:
        return "every record"
    text = f" {group['type']} ".join(parts)
    return f"({text})" if nested and len(parts) > 1 else text


def _state(found: dict[str, Any]) -> str:
    if found["applies"]:
        return "applies"
    if not found["enabled"]:
        return "disabled"
    return "NOT APPLIED"


def render_filters(page: dict[str, Any]) -> str:
    """Per mailbox: each filter's entity, name, kind and state, then its parsed form or why it is not applied."""
    if not page["mailboxes"]:
        return "no mailboxes"
    blocks: list[str] = []
    for mailbox in page["mailboxes"]:
        lines = [f"{mailbox['mailbox']} (CRM user {mailbox['user_id']})"]
        if not mailbox["filters"]:
            lines.append("  no filters: nothing syncs to this mailbox")
        for found in mailbox["filters"]:
            lines.append(f"  {found['entity']:<27} {found['name']} [{found['kind']}, {_state(found)}]")
            detail = group_text(found["parsed"]["filter"]) if found["parsed"] else f"error: {found['error']}"
            lines.append(f"  {'':<27}   {detail}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def render_preview(answer: dict[str, Any]) -> str:
    """The candidate's records on this page, the totals, and what would enter and leave."""
    pages = max(1, -(-answer["total"] // answer["page_size"]))
    lines = [
        f"{answer['entity']} filter for {answer['mailbox']}: {group_text(answer['parsed']['filter'])}",
        f"{answer['total']} of the {answer['readable']} records the user may read match; "
        f"page {answer['page']} of {pages}:",
    ]
    lines += [f"  {record['id']}  {record['name'] or '(no name)'}" for record in answer["records"]]
    if not answer["records"]:
        lines.append("  (none on this page)")
    today = ", ".join(f"{f['name']} ({f['kind']})" for f in answer["compared_with"]) or "none"
    lines.append(f"today's filters ({today}) bring {answer['current_total']}; with this filter instead, "
                 f"{answer['entering']} would enter and {answer['leaving']} would leave. Nothing was changed.")
    return "\n".join(lines)
