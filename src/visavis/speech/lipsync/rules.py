"""Which mouth shapes suit each phone (Rhubarb Lip Sync's rules), and the Oculus visemes.

Shapes: A closed (P B M), B slightly open/clenched, C open, D wide open, E slightly rounded,
F puckered, G teeth on lower lip (F V), H tongue raised (long L), X rest.
"""

from __future__ import annotations

BASIC_SHAPES = "ABCDEF"
EXTENDED_SHAPES = "GHX"
ALL_SHAPES = frozenset("ABCDEFGHX")
SPEECH_SHAPES = frozenset("ABCDEFGH")

ShapeSet = frozenset[str]

_ANY: ShapeSet = frozenset("ABCDEFGH")
# Phone -> (acceptable shapes in the first half, in the second half or None).
_RULES: dict[str, tuple[ShapeSet, ShapeSet | None]] = {
    "AO": (frozenset("E"), None),
    "AA": (frozenset("D"), None),
    "IY": (frozenset("B"), None),
    "UW": (frozenset("F"), None),
    "EH": (frozenset("C"), None),
    "IH": (frozenset("B"), None),
    "UH": (frozenset("F"), None),
    "AX": (frozenset("BC"), None),
    "AE": (frozenset("C"), None),
    "EY": (frozenset("C"), frozenset("B")),
    "OW": (frozenset("E"), frozenset("F")),
    "OY": (frozenset("E"), frozenset("B")),
    "P": (frozenset("A"), None),
    "B": (frozenset("A"), None),
    "M": (frozenset("A"), None),
    "T": (frozenset("BF"), None),
    "D": (frozenset("BF"), None),
    "K": (frozenset("BCEFH"), None),
    "G": (frozenset("BCEFH"), None),
    "CH": (frozenset("BF"), None),
    "JH": (frozenset("BF"), None),
    "TH": (frozenset("BF"), None),
    "DH": (frozenset("BF"), None),
    "S": (frozenset("BF"), None),
    "Z": (frozenset("BF"), None),
    "SH": (frozenset("BF"), None),
    "ZH": (frozenset("BF"), None),
    "F": (frozenset("G"), None),
    "V": (frozenset("G"), None),
    "HH": (_ANY, None),
    "N": (frozenset("BCFH"), None),
    "NG": (frozenset("BCEF"), None),
    "R": (frozenset("BEF"), None),
    "Y": (frozenset("BCF"), None),
    "W": (frozenset("F"), None),
    "SIL": (frozenset("X"), None),
}
LONG_AH = 0.2
LONG_L = 0.2
SHORT_ER = 0.07

OPEN_VOWELS = frozenset({"AA", "AE", "AH", "AW", "AY", "EH"})
CLOSURE_PHONES = frozenset({"P", "B", "M"})


def acceptable_shapes(phone: str, duration: float) -> tuple[ShapeSet, ShapeSet | None]:
    """Shapes acceptable for ``phone`` of ``duration`` s: (first half, second half or None)."""
    if phone == "AH":
        return (frozenset("D") if duration >= LONG_AH else frozenset("C")), None
    if phone == "AY":
        return (frozenset("D") if duration >= LONG_AH else frozenset("C")), frozenset("B")
    if phone == "AW":
        return (frozenset("D") if duration >= LONG_AH else frozenset("C")), frozenset("E")
    if phone == "ER":
        return (frozenset("BC") if duration < SHORT_ER else frozenset("E")), None
    if phone == "L":
        return (frozenset("BEFH") if duration < LONG_L else frozenset("H")), None
    return _RULES.get(phone, (_ANY, None))


# Preferred shape for each phone when the context does not decide (first, second half).
PREFERRED: dict[str, tuple[str, str | None]] = {
    "AO": ("E", None), "AA": ("D", None), "IY": ("B", None), "UW": ("F", None),
    "EH": ("C", None), "IH": ("B", None), "UH": ("F", None), "AX": ("C", None),
    "AE": ("C", None), "EY": ("C", "B"), "OW": ("E", "F"), "OY": ("E", "B"),
    "AY": ("C", "B"), "AW": ("C", "E"), "AH": ("C", None), "ER": ("E", None),
    "P": ("A", None), "B": ("A", None), "M": ("A", None), "T": ("B", None),
    "D": ("B", None), "K": ("B", None), "G": ("B", None), "CH": ("B", None),
    "JH": ("B", None), "TH": ("B", None), "DH": ("B", None), "S": ("B", None),
    "Z": ("B", None), "SH": ("B", None), "ZH": ("B", None), "F": ("G", None),
    "V": ("G", None), "HH": ("C", None), "N": ("B", None), "NG": ("B", None),
    "L": ("H", None), "R": ("B", None), "Y": ("B", None), "W": ("F", None),
    "SIL": ("X", None),
}  # fmt: skip

# Oculus / Meta 15 visemes (also Ready Player Me ``viseme_*`` morph targets).
OCULUS_VISEMES = (
    "sil", "PP", "FF", "TH", "DD", "kk", "CH", "SS", "nn", "RR", "aa", "E", "I", "O", "U",
)  # fmt: skip
_PHONE_VISEME = {
    "SIL": "sil", "P": "PP", "B": "PP", "M": "PP", "F": "FF", "V": "FF", "TH": "TH",
    "DH": "TH", "T": "DD", "D": "DD", "K": "kk", "G": "kk", "NG": "kk", "CH": "CH",
    "JH": "CH", "SH": "CH", "ZH": "CH", "S": "SS", "Z": "SS", "N": "nn", "L": "nn",
    "R": "RR", "AA": "aa", "AE": "aa", "AH": "aa", "AY": "aa", "AW": "aa", "EH": "E",
    "EY": "E", "AX": "E", "ER": "E", "IH": "I", "IY": "I", "Y": "I", "AO": "O", "OW": "O",
    "OY": "O", "UW": "U", "UH": "U", "W": "U", "HH": "E",
}  # fmt: skip
_SHAPE_VISEME = {
    "A": "PP", "B": "DD", "C": "E", "D": "aa", "E": "O", "F": "U", "G": "FF", "H": "nn",
    "X": "sil",
}  # fmt: skip


def phone_viseme(phone: str) -> str:
    """The Oculus viseme of a phone."""
    return _PHONE_VISEME.get(phone, "E")


def shape_viseme(shape: str) -> str:
    """An Oculus viseme for a shape when no phone is known."""
    return _SHAPE_VISEME[shape]


def restrict_shape(shape: str, extended: str) -> str:
    """Replace shapes outside the chosen extended set as Rhubarb does (G→B, H→C, X→A)."""
    if shape == "G" and "G" not in extended:
        return "B"
    if shape == "H" and "H" not in extended:
        return "C"
    if shape == "X" and "X" not in extended:
        return "A"
    return shape
