"""A Piper voice's network run in two halves: phoneme ids to latent frames, frames to audio.

The decoder's audio for a run of frames depends only on a few frames around it
(``DecoderSplit.context_frames``), so a sentence can be decoded run by run: its first words
are heard before the rest is decoded, and runs of a cache-friendly size decode faster than
one long sentence at once. Output is the whole decode's to float rounding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from visavis.speech.tts.piper_graph import DecoderSplit, decoder_to_2d, split_at_decoder

Floats = npt.NDArray[np.float32]

#: Frames decoded per run: the decoder's tensors then stay in the core's caches (measured:
#: runs of 128 frames beat a whole long sentence, overlap included; much shorter runs lose).
RUN_FRAMES = 128


@dataclass(frozen=True)
class Latents:
    """One phonemized sentence through the front half: what its audio is decoded from.

    ``frames``: latent frames (audio samples = frames × hop length); ``frames_per_id``: the
    frames of each phoneme id (None if the graph has no durations). ``audio`` is set instead
    of ``latent`` for a voice whose graph could not be split.
    """

    frames: int
    frames_per_id: npt.NDArray[np.int64] | None
    latent: Floats | None = None
    shared: dict[str, Any] = field(default_factory=dict)
    audio: Floats | None = None


class PiperNetwork:
    """Runs a Piper voice's ONNX graph: ``front`` once per sentence, ``decode`` per run."""

    def __init__(self, model: Any, *, hop_length: int, threads: int) -> None:
        import onnxruntime

        self.hop_length = hop_length
        self._split: DecoderSplit | None = split_at_decoder(model)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL

        def session(graph: Any) -> Any:
            return onnxruntime.InferenceSession(
                graph.SerializeToString(), sess_options=options, providers=["CPUExecutionProvider"]
            )

        if self._split is None:
            # Not a plain HiFi-GAN decoder: the whole graph at once, sentence by sentence.
            decoder_to_2d(model)
            self.front_session = session(model)
            self._decoder_session = None
        else:
            decoder_to_2d(self._split.decoder)
            self.front_session = session(self._split.front)
            self._decoder_session = session(self._split.decoder)

    @property
    def streams(self) -> bool:
        """True when a sentence's audio can be decoded run by run."""
        return self._split is not None

    def front(self, feed: dict[str, Any]) -> Latents:
        """Phoneme ids (Piper's ``input``/``input_lengths``/``scales`` feed) to latents."""
        if self._split is None:
            audio, *durations = self.front_session.run(None, feed)
            samples = np.asarray(audio, np.float32).reshape(-1)
            frames = math.ceil(len(samples) / self.hop_length)
            per_id = _frames(durations[0]) if durations else None
            return Latents(frames, per_id, audio=samples)
        latent, *shared, durations = self.front_session.run(None, feed)
        names = self._split.shared
        return Latents(
            int(latent.shape[-1]),
            _frames(durations),
            latent=latent,
            shared=dict(zip(names, shared, strict=True)),
        )

    def decode(self, latents: Latents, start: int, end: int) -> Floats:
        """The audio of frames ``start``–``end`` (clipped to the sentence), as in a whole decode."""
        start, end = max(0, start), min(latents.frames, end)
        hop = self.hop_length
        if latents.audio is not None:
            return latents.audio[start * hop : end * hop]
        assert self._split is not None and self._decoder_session is not None
        context = self._split.context_frames
        runs = max(1, math.ceil((end - start) / RUN_FRAMES))
        size = math.ceil((end - start) / runs)
        pieces = []
        for first in range(start, end, size):
            last = min(end, first + size)
            lo, hi = max(0, first - context), min(latents.frames, last + context)
            assert latents.latent is not None
            feed = {self._split.latent: np.ascontiguousarray(latents.latent[..., lo:hi])}
            feed.update(latents.shared)
            audio = self._decoder_session.run(None, feed)[0].reshape(-1)
            pieces.append(audio[(first - lo) * hop : (last - lo) * hop])
        return np.concatenate(pieces).astype(np.float32, copy=False)


def _frames(durations: Any) -> npt.NDArray[np.int64]:
    return np.asarray(durations, dtype=np.float32).reshape(-1).astype(np.int64)
