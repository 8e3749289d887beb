"""The README documents every setting and keeps its two-command quick start."""

from __future__ import annotations

import re
from pathlib import Path

from visavis.config import Settings

README = Path(__file__).resolve().parent.parent / "README.md"


def test_every_setting_is_documented() -> None:
    text = README.read_text()
    missing = [
        f"VISAVIS_{name.upper()}"
        for name in Settings.model_fields
        if f"`VISAVIS_{name.upper()}`" not in text
    ]
    assert missing == []


def test_quick_start_has_exactly_two_commands() -> None:
    text = README.read_text()
    quick_start = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", quick_start, re.S)
    assert block is not None
    commands = [line for line in block.group(1).splitlines() if line.strip()]
    assert [c.split("#")[0].strip() for c in commands] == ["make serve", "make test"]
