"""Whether a pause ends the person's turn, judged from the sound of the speech before it.

People pause inside sentences, and a turn taker that waits the same silence everywhere either
answers late or cuts them off. The voice itself says much of which pause it is: a sentence
that goes on keeps its pitch up, its last word drawn out; a finished one falls. Smart Turn v3
(pipecat's turn model, BSD-2-Clause) is a small audio classifier trained for exactly this; its
ONNX weights ship in the ``pipecat-ai`` wheel (our optional ``turn-model`` extra, pinned). They
are read from the installed package — nothing is downloaded — and run with onnxruntime on one
thread, about 50–100 ms of one core per judgement.

The model hears the last 8 s of the utterance at 16 kHz (shorter audio is zero-padded at the
start), normalized to zero mean and unit variance, as 80-bin Whisper log-mel features, and
answers the probability that the turn is complete. The features come from faster-whisper's
extractor (already our recognizer's), which matches the model's training features.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import importlib.util
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from visavis.errors import ConfigurationError
from visavis.speech.errors import SpeechError

if TYPE_CHECKING:
    import onnxruntime

SAMPLE_RATE = 16000
WINDOW_S = 8
#: Where the pinned ``pipecat-ai`` wheel keeps the model, and its exact content.
MODEL_PACKAGE = "pipecat"
MODEL_PATH = ("audio", "turn", "smart_turn", "data", "smart-turn-v3.2-cpu.onnx")
MODEL_SHA256 = "2bb026316b14a660486a75b1733cd3fbab8c2fd0314dc9af7be49f8cca967e4f"


class TurnModelError(SpeechError):
    """The turn model gave no verdict."""

    code = "turn_model_failed"


class TurnModelUnavailableError(TurnModelError, ConfigurationError):
    """The turn model is not installed (``pipecat-ai`` missing) or is not the pinned file."""

    code = "turn_model_unavailable"


class TurnModelTimeoutError(TurnModelError):
    """The turn model did not answer in time (the machine is overloaded)."""

    code = "turn_model_timeout"


def model_file() -> Path:
    """The installed model file; ``TurnModelUnavailableError`` if it is not there.

    Found from the package's location without importing it: importing ``pipecat`` starts its
    logging and checks, none of which this needs.
    """
    try:
        spec = importlib.util.find_spec(MODEL_PACKAGE)
    except (ImportError, ValueError) as exc:
        raise TurnModelUnavailableError(f"cannot look up {MODEL_PACKAGE!r}: {exc}") from exc
    roots = list(spec.submodule_search_locations or []) if spec is not None else []
    for root in roots:
        path = Path(root).joinpath(*MODEL_PATH)
        if path.is_file():
            return path
    raise TurnModelUnavailableError(
        "the Smart Turn v3 model is not installed: install the pinned pipecat-ai package"
    )


@functools.cache
def _session(path: Path) -> onnxruntime.InferenceSession:
    """The model, loaded once per process (blocking; callers hold ``_LOAD_LOCK``)."""
    import onnxruntime

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TurnModelUnavailableError(f"cannot read {path}: {exc}") from exc
    digest = hashlib.sha256(data).hexdigest()
    if digest != MODEL_SHA256:
        raise TurnModelUnavailableError(
            f"{path.name} is not the file this release was built for (sha256 {digest})"
        )
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    try:
        return onnxruntime.InferenceSession(
            data, sess_options=options, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # onnxruntime raises its own, untyped, errors
        raise TurnModelUnavailableError(f"cannot load {path.name}: {exc}") from exc


@functools.cache
def _features() -> Any:
    from faster_whisper.feature_extractor import FeatureExtractor

    return FeatureExtractor(feature_size=80, chunk_length=WINDOW_S)


_LOAD_LOCK = threading.Lock()


def features(pcm: npt.NDArray[np.int16]) -> npt.NDArray[np.float32]:
    """The model's input for ``pcm`` (16 kHz): shape (1, 80, 800)."""
    audio = np.asarray(pcm, dtype=np.float32).ravel() / 32768.0
    size = WINDOW_S * SAMPLE_RATE
    audio = audio[-size:]
    audio = np.pad(audio, (size - len(audio), 0))
    audio = (audio - audio.mean()) / np.sqrt(audio.var() + 1e-7)
    mel = _features()(audio, padding=0)
    return np.asarray(mel, dtype=np.float32)[np.newaxis]


class TurnModel:
    """Smart Turn v3 on one CPU thread; ``timeout_s`` bounds each judgement.

    Construction only checks that the model is installed (``TurnModelUnavailableError`` if
    not; ``path`` replaces the packaged file, which it must equal); the weights load on the
    first judgement, once per process, off the event loop (``TurnModelUnavailableError`` then
    if the file is not the pinned one).
    """

    def __init__(self, *, timeout_s: float = 2.0, path: Path | None = None) -> None:
        if timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        self.path = model_file() if path is None else path
        if not self.path.is_file():
            raise TurnModelUnavailableError(f"no turn model at {self.path}")
        self.timeout_s = timeout_s

    def load(self) -> None:
        """Load the weights now (blocking), unless loaded already."""
        with _LOAD_LOCK:
            _session(self.path)

    def probability(self, pcm: npt.NDArray[np.int16]) -> float:
        """The probability that the turn is complete after ``pcm`` (blocking, about 50 ms of
        one core): mono PCM16 at 16 kHz, the utterance up to now, silence after it included."""
        self.load()
        try:
            outputs = _session(self.path).run(None, {"input_features": features(pcm)})
        except Exception as exc:  # onnxruntime raises its own, untyped, errors
            raise TurnModelError(f"the turn model failed: {exc}") from exc
        return float(np.asarray(outputs[0]).ravel()[0])

    async def complete_probability(self, pcm: npt.NDArray[np.int16]) -> float:
        """``probability`` off the event loop; ``TurnModelTimeoutError`` after ``timeout_s``
        (the thread then finishes on its own; its answer is dropped)."""
        work = asyncio.ensure_future(asyncio.to_thread(self.probability, pcm))
        try:
            return await asyncio.wait_for(asyncio.shield(work), self.timeout_s)
        except TimeoutError as exc:
            raise TurnModelTimeoutError(
                f"the turn model took over {self.timeout_s:g} s to answer"
            ) from exc
