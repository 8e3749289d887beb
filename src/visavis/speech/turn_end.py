"""Whether the words heard so far sound like a finished turn (English), from their text alone.

People pause inside sentences — before a word they are looking for, after "and", "the", "to" —
and a turn taker that waits the same silence everywhere must either wait long after every turn
or cut people off at those pauses. The recognizer's transcript of the audio up to a pause says
which kind of pause it is: Whisper punctuates what it hears, and a sentence that stops on an
article, a preposition, a conjunction or an auxiliary is not over. A turn that sounds finished
may end after a shorter silence; the rule never ends a turn by itself.
"""

from __future__ import annotations

import re

_CONTINUING = """
    a an the this these those my your our their his its some any every each no
    to of in on at for with about from by into onto over under than as like between through
    during after before without within across against toward towards upon via per
    and but or nor so yet because if when while although though since unless until whether
    whereas where which who whom whose that what how why
    is are was were am be been being do does did have has had will would can could should
    shall may might must not
    i we they he she you're we're they're i'm it's i've we've i'd
    um uh er erm hmm mm uhm
    very really just also quite rather more most less least
"""
#: Words a finished English sentence rarely ends on: the next word is still to come.
CONTINUES = frozenset(_CONTINUING.split())
_ENDING = re.compile(r"[.!?]['\")\]]*$")


def sounds_finished(text: str) -> bool:
    """Whether ``text`` (a transcript, punctuated) ends like a whole sentence."""
    text = text.strip()
    if not text or text.endswith(("...", "…")) or not _ENDING.search(text):
        return False
    words = re.findall(r"[a-z']+", text.lower())
    return bool(words) and words[-1].strip("'") not in CONTINUES
