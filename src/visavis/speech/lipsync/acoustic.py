"""Acoustic model: a small Gaussian mixture per phone state, scoring 10 ms feature frames.

Each phone has three states (onset, middle, offset); ``CL`` is the silent closure before a
stop's release and ``SP`` an optional short pause. The parameters are fitted by
``bench/train_lipsync_model.py`` on synthetic speech of several voices and shipped as
``acoustic_model.npz`` (float16 arrays); they load lazily, once per process.
"""

from __future__ import annotations

import io
import threading
from importlib import resources

import numpy as np
import numpy.typing as npt

from visavis.speech.errors import AlignmentError
from visavis.speech.phones import PHONES, SIL

STATES_PER_PHONE = 3
CLOSURE = "CL"
SHORT_PAUSE = "SP"
STOPS = frozenset({"P", "B", "T", "D", "K", "G"})


def state_names() -> list[str]:
    """Names of every model state: ``AA_0`` … ``ZH_2``, then ``CL`` and ``SP``."""
    names = [f"{phone}_{i}" for phone in sorted(PHONES) for i in range(STATES_PER_PHONE)]
    return [*names, CLOSURE, SHORT_PAUSE]


class AcousticModel:
    """Diagonal GMMs: ``means``/``inv_vars`` (states × mixtures × dims), ``log_weights``."""

    def __init__(
        self,
        names: tuple[str, ...],
        means: npt.NDArray[np.float32],
        inv_vars: npt.NDArray[np.float32],
        log_weights: npt.NDArray[np.float32],
        transitions: npt.NDArray[np.float32] | None = None,
    ) -> None:
        self.names = names
        # Log bigram between loop units (phones in ``names`` order, then CL), or None.
        self.transitions = transitions
        self.means, self.inv_vars, self.log_weights = means, inv_vars, log_weights
        self.index = {name: i for i, name in enumerate(names)}
        states, mixtures, dims = means.shape
        self._shape = (states, mixtures)
        # Precomputed terms of the log density, so scoring is two matrix products.
        constant = (
            log_weights
            + 0.5 * np.sum(np.log(inv_vars), axis=2)
            - 0.5 * dims * np.log(2 * np.pi)
            - 0.5 * np.sum(means**2 * inv_vars, axis=2)
        )
        self._constant = constant.reshape(-1).astype(np.float32)
        self._linear = (means * inv_vars).reshape(-1, dims).T.astype(np.float32)
        self._quadratic = (-0.5 * inv_vars).reshape(-1, dims).T.astype(np.float32)

    def log_likelihoods(self, feats: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Log density of every frame under every state (frames × states)."""
        per_mixture = (feats**2) @ self._quadratic + feats @ self._linear + self._constant
        # The best mixture stands for the sum (the usual Viterbi approximation).
        best = per_mixture.reshape(len(feats), *self._shape).max(axis=2)
        return np.asarray(best, dtype=np.float32)

    def to_bytes(self, *, trained_on: tuple[str, ...] = ()) -> bytes:
        """Serialize to an ``.npz`` (float16 arrays) that names the voices it was fitted on."""
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer,
            names=np.array(self.names),
            means=self.means.astype(np.float16),
            inv_vars=self.inv_vars.astype(np.float16),
            log_weights=self.log_weights.astype(np.float16),
            transitions=(
                np.zeros((0, 0), np.float16)
                if self.transitions is None
                else self.transitions.astype(np.float16)
            ),
            trained_on=np.array(trained_on, dtype=str),
        )
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> AcousticModel:
        """Load a model written by :meth:`to_bytes`."""
        with np.load(io.BytesIO(data)) as arrays:
            return cls(
                names=tuple(str(n) for n in arrays["names"]),
                means=arrays["means"].astype(np.float32),
                inv_vars=arrays["inv_vars"].astype(np.float32),
                log_weights=arrays["log_weights"].astype(np.float32),
                transitions=(
                    arrays["transitions"].astype(np.float32)
                    if "transitions" in arrays and arrays["transitions"].size
                    else None
                ),
            )


MODEL_FILE = "acoustic_model.npz"


_MODEL: list[AcousticModel] = []
_MODEL_LOCK = threading.Lock()


def default_model() -> AcousticModel:
    """The shipped model, decoded on first use."""
    with _MODEL_LOCK:
        if not _MODEL:
            _MODEL.append(AcousticModel.from_bytes(_model_bytes()))
        return _MODEL[0]


def trained_on() -> tuple[str, ...]:
    """The voices the shipped model was fitted on (held-out voices are not among them)."""
    with np.load(io.BytesIO(_model_bytes())) as arrays:
        return tuple(str(v) for v in arrays["trained_on"])


def _model_bytes() -> bytes:
    try:
        return (resources.files("visavis.speech.lipsync") / MODEL_FILE).read_bytes()
    except OSError as exc:  # pragma: no cover - shipped with the package
        raise AlignmentError("the lip-sync acoustic model is missing") from exc


def is_silence_state(name: str) -> bool:
    """True for pause states (``SIL_*`` and ``SP``)."""
    return name == SHORT_PAUSE or name.startswith(f"{SIL}_")
