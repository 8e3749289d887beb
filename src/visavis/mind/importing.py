"""Bulk import formats: JSONL (one fact or story per line) and Markdown (one story per heading).

Parsing is all or nothing: every broken line is reported with its number, and nothing is
written unless the whole file is valid.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import ValidationError

from visavis.errors import InvalidInputError
from visavis.mind.schemas import FactIn, ItemIn, StoryIn

ImportFormat = Literal["jsonl", "markdown"]
MAX_REPORTED = 20
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_META = re.compile(r"^(when|tags|source)\s*:\s*(.*)$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class LineProblem:
    """What is wrong with one line of an import."""

    line: int
    message: str


class InvalidImport(InvalidInputError):
    """The file has broken lines; ``problems`` lists them (first ``MAX_REPORTED``)."""

    code = "invalid_import"

    def __init__(self, problems: list[LineProblem], total: int) -> None:
        first = problems[0]
        more = f" (and {total - 1} more)" if total > 1 else ""
        super().__init__(
            f"line {first.line}: {first.message}{more}; nothing was imported — fix the "
            "lines listed in 'errors' and import the whole file again"
        )
        self.problems = problems
        self.problem_extra = {
            "errors": [{"line": p.line, "message": p.message} for p in problems],
            "broken_lines": total,
        }


def _validation_message(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors()[:3]:
        location = ".".join(str(p) for p in error.get("loc", ()))
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        parts.append(f"{location}: {message}" if location else message)
    return "; ".join(parts)


def _item(data: Any) -> ItemIn:
    if not isinstance(data, dict):
        raise ValueError("each line must be a JSON object")
    if "type" not in data:
        data = {**data, "type": "story" if "title" in data else "fact"}
    if data["type"] == "fact":
        return FactIn.model_validate(data)
    if data["type"] == "story":
        return StoryIn.model_validate(data)
    raise ValueError("'type' must be 'fact' or 'story'")


def parse_jsonl(text: str) -> list[ItemIn]:
    """Facts and stories, one JSON object per line (blank lines are skipped)."""
    items: list[ItemIn] = []
    problems: list[LineProblem] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(LineProblem(number, f"not JSON ({exc.msg} at column {exc.colno})"))
            continue
        try:
            items.append(_item(data))
        except ValidationError as exc:
            problems.append(LineProblem(number, _validation_message(exc)))
        except ValueError as exc:
            problems.append(LineProblem(number, str(exc)))
    _raise_if(problems)
    return items


def _story(title: str, line: int, body: list[str]) -> tuple[StoryIn | None, LineProblem | None]:
    meta: dict[str, Any] = {}
    lines = list(body)
    while lines and (not lines[0].strip() or _META.match(lines[0].strip())):
        match = _META.match(lines.pop(0).strip())
        if match:
            key, value = match.group(1).lower(), match.group(2).strip()
            meta[key] = [t.strip() for t in value.split(",")] if key == "tags" else value
    text = "\n".join(lines).strip()
    if not text:
        return None, LineProblem(line, f"the story {title!r} has no text under its heading")
    try:
        return StoryIn(title=title, text=text, **meta), None
    except ValidationError as exc:
        return None, LineProblem(line, _validation_message(exc))


def parse_markdown(text: str) -> list[ItemIn]:
    """One story per heading; optional ``When:``, ``Tags:``, ``Source:`` lines under it."""
    items: list[ItemIn] = []
    problems: list[LineProblem] = []
    current: tuple[str, int] | None = None
    body: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        heading = _HEADING.match(line)
        if heading:
            if current is not None:
                story, problem = _story(current[0], current[1], body)
                items.extend([story] if story else [])
                problems.extend([problem] if problem else [])
            current, body = (heading.group(2), number), []
        elif current is None:
            if line.strip():
                problems.append(
                    LineProblem(
                        number,
                        "text before the first heading: start each story "
                        "with a heading such as '## The summer in Porto'",
                    )
                )
        else:
            body.append(line)
    if current is not None:
        story, problem = _story(current[0], current[1], body)
        items.extend([story] if story else [])
        problems.extend([problem] if problem else [])
    _raise_if(problems)
    if not items:
        raise InvalidInputError("the Markdown has no story: give each story a '## Title' heading")
    return items


def parse(text: str, fmt: ImportFormat) -> list[ItemIn]:
    """Parse an import in ``fmt``; raises ``InvalidImport`` listing broken lines."""
    if "\x00" in text:
        raise InvalidInputError("the file is not text (it contains NUL bytes)")
    return parse_jsonl(text) if fmt == "jsonl" else parse_markdown(text)


def _raise_if(problems: list[LineProblem]) -> None:
    if problems:
        raise InvalidImport(problems[:MAX_REPORTED], len(problems))


def export_line(item: FactIn | StoryIn, **extra: Any) -> str:
    """One JSONL line of an export (importable again)."""
    data = item.model_dump(mode="json", exclude_none=True)
    data.update({k: v for k, v in extra.items() if v is not None})
    return json.dumps(data, ensure_ascii=False)


__all__ = [
    "FactIn",
    "ImportFormat",
    "InvalidImport",
    "LineProblem",
    "StoryIn",
    "export_line",
    "parse",
]
