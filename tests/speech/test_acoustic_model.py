"""The shipped lip-sync acoustic model: it loads, covers every state, and saves losslessly."""

from __future__ import annotations

import numpy as np

from visavis.speech.lipsync.acoustic import (
    AcousticModel,
    default_model,
    state_names,
    trained_on,
)


def test_the_shipped_model_covers_every_state_and_names_its_voices() -> None:
    model = default_model()
    assert set(state_names()) <= set(model.names)
    assert np.isfinite(model.means).all() and (model.inv_vars > 0).all()
    voices = trained_on()
    assert voices and all(isinstance(v, str) and v for v in voices)


def test_a_model_saved_and_loaded_again_scores_the_same() -> None:
    model = default_model()
    again = AcousticModel.from_bytes(model.to_bytes(trained_on=("a-voice",)))
    frames = np.random.default_rng(0).normal(size=(50, model.means.shape[-1])).astype(np.float32)
    np.testing.assert_allclose(again.log_likelihoods(frames), model.log_likelihoods(frames))
    assert again.names == model.names
