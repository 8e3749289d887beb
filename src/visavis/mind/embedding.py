"""Sentence embeddings from WordLlama's bundled model, loaded from the installed package.

WordLlama (MIT) ships its 256-dimension ``l2_supercat`` token codebook and tokenizer inside
the wheel; they are read from the package directory, never downloaded. The codebook was
trained from Llama 2 family embeddings: see ``docs/twins.md`` for what its licence means.
"""

from __future__ import annotations

import threading
from importlib.resources import files
from typing import Protocol

import numpy as np
import numpy.typing as npt

from visavis.errors import ConfigurationError

Vectors = npt.NDArray[np.float32]

_WEIGHTS = ("weights", "l2_supercat_256.safetensors")
_TOKENIZER = ("tokenizers", "l2_supercat_tokenizer_config.json")


class Embedder(Protocol):
    """Turns texts into unit-length vectors (one row per text)."""

    dim: int

    def embed(self, texts: list[str]) -> Vectors:
        """Unit-length float32 rows, one per text."""
        ...


class WordLlamaEmbedder:
    """WordLlama's bundled model; loaded on first use (about 0.4 s), thread-safe."""

    dim = 256

    def __init__(self) -> None:
        self._model: object | None = None
        self._lock = threading.Lock()

    def _load(self) -> object:
        with self._lock:
            if self._model is not None:
                return self._model
            try:
                from safetensors import safe_open
                from tokenizers import Tokenizer
                from wordllama.inference import WordLlamaInference  # type: ignore[import-untyped]
            except ImportError as exc:  # pragma: no cover - a declared dependency
                raise ConfigurationError(
                    "the wordllama package is missing: pip install 'wordllama==0.4.0.post1'"
                ) from exc
            root = files("wordllama")
            weights = root.joinpath(*_WEIGHTS)
            tokenizer_file = root.joinpath(*_TOKENIZER)
            if not (weights.is_file() and tokenizer_file.is_file()):
                raise ConfigurationError(
                    "the installed wordllama package has no bundled l2_supercat model; "
                    "reinstall wordllama==0.4.0.post1"
                )
            tokenizer = Tokenizer.from_file(str(tokenizer_file))
            with safe_open(str(weights), framework="np", device="cpu") as tensors:
                codebook = tensors.get_tensor("embedding.weight")
            self._model = WordLlamaInference(codebook, tokenizer, binary=False)
            return self._model

    def embed(self, texts: list[str]) -> Vectors:
        """Unit-length float32 rows, one per text (an empty text gives a zero row)."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self._load()
        vectors = model.embed(texts, norm=False)  # type: ignore[attr-defined]
        matrix = np.asarray(vectors, dtype=np.float32)
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        unit: Vectors = np.divide(matrix, norms, out=np.zeros_like(matrix), where=norms > 0)
        return unit


def to_bytes(vector: npt.NDArray[np.float32]) -> bytes:
    """A vector as stored: float16, little-endian."""
    return np.asarray(vector, dtype="<f2").tobytes()


def from_bytes(data: bytes, dim: int) -> npt.NDArray[np.float32]:
    """The stored vector back as float32 (a zero vector when the size is wrong)."""
    if len(data) != dim * 2:
        return np.zeros(dim, dtype=np.float32)
    return np.frombuffer(data, dtype="<f2").astype(np.float32)
