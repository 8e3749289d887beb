"""A small ctypes binding to Debian's ``libespeak-ng.so.1``: audio plus exact phoneme events.

eSpeak NG keeps one global engine per process, so every call goes through one lock.
The library is loaded lazily by :func:`espeak_library`, never at import.
"""

from __future__ import annotations

import ctypes
import threading
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from visavis.speech.errors import UnspeakableTextError, VoiceLoadError

LIBRARY_NAME = "libespeak-ng.so.1"
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_OPTION_PHONEME_EVENTS = 1
_OPTION_IPA_NAMES = 2
_CHARS_UTF8 = 1
_ENDPAUSE = 0x1000
_EVENT_END_OF_LIST = 0
_EVENT_PHONEME = 7
_PARAM_RATE = 1
_PARAM_PITCH = 3
_IPA_MODE = 0x02
_SEPARATOR = ord("_")
_DEFAULT_RATE_WPM = 175


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


_Callback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)


@dataclass(frozen=True)
class EspeakResult:
    """Audio of one synthesis and its phoneme events as (sample index, IPA name; '' = pause)."""

    pcm: npt.NDArray[np.int16]
    sample_rate: int
    events: tuple[tuple[int, str], ...]


class EspeakLibrary:
    """The loaded eSpeak NG library; use :func:`espeak_library` to get the shared one."""

    def __init__(self, library_name: str = LIBRARY_NAME) -> None:
        try:
            self._lib = ctypes.CDLL(library_name)
        except OSError as exc:
            raise VoiceLoadError(
                f"cannot load {library_name} (install the Debian package libespeak-ng1)"
            ) from exc
        self._lock = threading.Lock()
        self._lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
        self._lib.espeak_TextToPhonemes.argtypes = [
            ctypes.POINTER(ctypes.c_char_p),
            ctypes.c_int,
            ctypes.c_int,
        ]
        options = _OPTION_PHONEME_EVENTS | _OPTION_IPA_NAMES
        rate = self._lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 200, None, options)
        if rate <= 0:
            raise VoiceLoadError("eSpeak NG failed to initialize (is espeak-ng-data installed?)")
        self.sample_rate = int(rate)
        self._chunks: list[npt.NDArray[np.int16]] = []
        self._events: list[tuple[int, str]] = []
        self._callback = _Callback(self._on_audio)  # kept referenced for the C side
        self._lib.espeak_SetSynthCallback(self._callback)
        self._voice: str | None = None

    def _on_audio(
        self, wav: ctypes._Pointer[ctypes.c_short], count: int, events: ctypes._Pointer[_Event]
    ) -> int:
        if count > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, (count,)).astype(np.int16))
        index = 0
        while events[index].type != _EVENT_END_OF_LIST:
            event = events[index]
            if event.type == _EVENT_PHONEME:
                name = bytes(event.id.string).split(b"\0", 1)[0].decode("utf-8", "replace")
                self._events.append((int(event.sample), name))
            index += 1
        return 0

    def _select_voice(self, voice: str) -> None:
        if voice != self._voice:
            if self._lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise VoiceLoadError(f"eSpeak NG has no voice named {voice!r}")
            self._voice = voice

    def synthesize(
        self, text: str, *, voice: str, rate: float = 1.0, pitch: float = 1.0
    ) -> EspeakResult:
        """Speak ``text`` and return its audio with the exact phoneme events."""
        data = text.encode("utf-8")
        with self._lock:
            self._select_voice(voice)
            self._lib.espeak_SetParameter(_PARAM_RATE, int(round(_DEFAULT_RATE_WPM * rate)), 0)
            self._lib.espeak_SetParameter(_PARAM_PITCH, int(round(min(100.0, 50.0 * pitch))), 0)
            self._chunks, self._events = [], []
            status = self._lib.espeak_Synth(
                data, len(data) + 1, 0, 1, 0, _CHARS_UTF8 | _ENDPAUSE, None, None
            )
            chunks, events = self._chunks, self._events
            self._chunks, self._events = [], []
        if status != 0:
            raise UnspeakableTextError(f"eSpeak NG could not speak the text (status {status})")
        pcm = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)
        return EspeakResult(pcm=pcm, sample_rate=self.sample_rate, events=tuple(events))

    def phonemize(self, text: str, *, voice: str) -> list[list[str]]:
        """Text to IPA phonemes, one list per word (no audio; fast)."""
        words: list[list[str]] = []
        with self._lock:
            self._select_voice(voice)
            buffer = ctypes.c_char_p(text.encode("utf-8"))
            pointer = ctypes.pointer(buffer)
            while pointer.contents.value:
                clause = self._lib.espeak_TextToPhonemes(
                    pointer, _CHARS_UTF8, _IPA_MODE | (_SEPARATOR << 8)
                )
                if not clause:
                    break
                for word in clause.decode("utf-8", "replace").split():
                    phonemes = [p for p in word.split("_") if p]
                    if phonemes:
                        words.append(phonemes)
        return words


_LIBRARIES: dict[str, EspeakLibrary] = {}
_LIBRARIES_LOCK = threading.Lock()


def espeak_library(library_name: str = LIBRARY_NAME) -> EspeakLibrary:
    """The process-wide eSpeak NG library, loaded on first use."""
    with _LIBRARIES_LOCK:
        library = _LIBRARIES.get(library_name)
        if library is None:
            library = _LIBRARIES[library_name] = EspeakLibrary(library_name)
        return library
