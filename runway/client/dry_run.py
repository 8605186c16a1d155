"""A rollback's dry run (`POST /api/v1/deployments/{id}/rollback` without confirm) in lines for
people: the command line prints them, the dashboard shows them above the typed confirmation."""

from __future__ import annotations

from typing import Any


def describe(dry: dict[str, Any]) -> list[str]:
    """The dry run as lines for people."""
    back = dry["goes_back_to"]
    lines = [
        f"rolling back deployment #{dry['deployment']['number']} in {dry['environment']} goes "
        f"back to #{back['number']} (succeeded {back.get('finished_at') or '-'})",
        "",
        "steps:",
    ]
    for step in dry["steps"]:
        if "does" in step:
            lines.append(f"  {step['step']}: {step['does']}")
            continue
        changes = step.get("changes") or []
        lines.append(f"  {step['step']} ({step['kind']}): " + ("" if changes else "unchanged"))
        for change in changes:
            lines.append(f"    {change['field']}: {change['from']} -> {change['to']}")
    if dry["values"]:
        lines += ["", "values:"]
        for value in dry["values"]:
            if value.get("secret"):
                lines.append(f"  {value['input']}: changed (secret)")
            else:
                lines.append(f"  {value['input']}: {value['from']} -> {value['to']}")
    objects = dry["objects"]
    for word in ("added", "removed"):
        if objects[word]:
            lines.append(f"{word}: {', '.join(objects[word])}")
    lines += ["", "data lost:"]
    lines += [f"  {lost}" for lost in dry["data_lost"]] or ["  none: no volume is restored"]
    lines += [
        "",
        f"to roll back: runway rollback {dry['deployment']['id']} --confirm {dry['environment']}",
    ]
    return lines
