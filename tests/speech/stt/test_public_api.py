"""The package's public names are exactly what ``__all__`` lists, and each exists."""

from __future__ import annotations

import visavis.speech.stt as stt


def test_all_lists_the_public_names() -> None:
    public = {name for name in vars(stt) if not name.startswith("_")}
    modules = {name for name in public if type(getattr(stt, name)).__name__ == "module"}
    assert set(stt.__all__) == public - modules
    assert stt.__all__ == sorted(stt.__all__)
