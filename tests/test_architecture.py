"""The package's shape, as docs/architecture.md states it: checked, so it stays true.

- no import circle anywhere in ``visavis``;
- providers and engines (``avatars``, ``speech``, ``agents``) and the lower layers (``tenancy``,
  ``db``, ``ops``) never import the live pipeline (``conversation``);
- every message type of the wire protocol is documented in docs/protocol.md, and every
  documented type is implemented;
- one local-voice turn, from the client's ``user_text`` to its first audio frame, runs through
  at most eight modules of the pipeline (``api`` and ``conversation``).
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import visavis
from visavis.conversation import protocol
from visavis.testing import ConversationKit, ScriptedAgent, run_virtual

PACKAGE = Path(visavis.__file__).parent
DOCS = Path(__file__).parent.parent / "docs"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in PACKAGE.rglob("*.py")}


def imports_of(path: Path, known: dict[str, Path]) -> Iterator[str]:
    """Every ``visavis`` module ``path`` imports (anywhere in it, TYPE_CHECKING included)."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path.parent)
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            names = [
                f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in known
            ]
            names = names or [base]
        else:
            continue
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name.startswith("visavis"):
                yield name


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: set(imports_of(path, known)) - {name} for name, path in known.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target in edges.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_no_import_circle_anywhere() -> None:
    assert cycles(graph()) == []


def test_engines_and_lower_layers_never_import_the_pipeline() -> None:
    lower = ("avatars", "speech", "agents", "tenancy", "db", "ops")
    offenders = {
        name: sorted(t for t in targets if t.startswith("visavis.conversation"))
        for name, targets in graph().items()
        if name.split(".")[1:2] and name.split(".")[1] in lower
    }
    assert {name: t for name, t in offenders.items() if t} == {}


def documented_types(section: str) -> set[str]:
    text = (DOCS / "protocol.md").read_text()
    start = text.index(f"## {section}")
    end = text.find("\n## ", start + 1)
    body = text[start : end if end != -1 else None]
    return set(re.findall(r"^\| `([a-z_]+)` \|", body, flags=re.MULTILINE))


def test_every_message_type_is_documented_and_every_documented_type_implemented() -> None:
    assert documented_types("Client → server") == set(protocol.CLIENT_TYPES) - {"hello"}
    assert documented_types("Server → client") == set(protocol.SERVER_TYPES)


def test_a_local_voice_turn_runs_through_at_most_eight_pipeline_modules() -> None:
    """From ``user_text`` to its first audio frame: the modules of ``api`` and ``conversation``
    whose code runs (``api/ws.py`` is counted too: the kit stands in for its two loops).
    """
    seen: set[str] = set()
    others: set[str] = set()

    def profile(frame: FrameType, event: str, _: Any) -> None:
        if event != "call":
            return
        name = frame.f_globals.get("__name__", "")
        if name.startswith(("visavis.conversation", "visavis.api")):
            seen.add(name)
        elif name.startswith("visavis.") and not name.startswith("visavis.testing"):
            others.add(name.split(".")[1])

    async def scenario() -> None:
        agent = ScriptedAgent(["Fine, thank you. What else would you like to know?"])
        async with ConversationKit(agent=agent) as client:
            await client.wait_for("state", state="listening")
            mark = len(client.received)
            sys.setprofile(profile)
            try:
                await client.send({"type": "user_text", "text": "How are you?"})
                await client.until(lambda: any(r.frame for r in client.received[mark:]))
            finally:
                sys.setprofile(None)

    run_virtual(scenario())
    pipeline = seen | {"visavis.api.ws"}
    assert len(pipeline) <= 8, sorted(pipeline)
    # Everything else is reached through a capability's interface, or is a shared utility.
    assert others <= {"agents", "speech", "timing", "db", "errors", "stored_text"}, sorted(others)
