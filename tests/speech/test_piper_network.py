"""A voice's graph split before its decoder: audio decoded run by run is the whole decode's."""

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from visavis.speech.tts.piper_graph import expose_durations, split_at_decoder
from visavis.speech.tts.piper_network import PiperNetwork

from .test_piper_graph import _decoder_like_model, _run

HOP = 2  # the toy decoder's one upsampling


def _voice_like_model() -> onnx.ModelProto:
    """The toy decoder behind a front op, as in Piper (latents × mask feed the decoder)."""
    model = _decoder_like_model()
    model.graph.input[0].name = "latent_in"
    model.graph.initializer.append(numpy_helper.from_array(np.float32(1.0), "mask"))
    model.graph.node.insert(0, helper.make_node("Mul", ["latent_in", "mask"], ["x"], name="/Mul"))
    return model


def _feeds(frames: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    return {
        "latent_in": rng.normal(size=(1, 16, frames)).astype(np.float32),
        "durations": np.array([[[frames - 0.5]]], dtype=np.float32),
    }


def test_the_split_finds_the_latents_and_bounds_the_decoders_reach() -> None:
    model = _voice_like_model()
    assert expose_durations(model)
    split = split_at_decoder(model)
    assert split is not None
    assert split.latent == "x" and split.shared == ()
    # conv_pre 3 + upsampling 2 + dilated conv 1.5 + conv_post 1.5 frames
    assert split.context_frames == 8
    assert [o.name for o in split.decoder.graph.output] == ["audio"]


@pytest.mark.parametrize("frames", [40, 300])
def test_runs_decoded_apart_join_into_the_whole_decode(frames: int) -> None:
    feeds = _feeds(frames)
    plain = {"x": feeds["latent_in"], "durations": feeds["durations"]}
    (expected,) = _run(_decoder_like_model(), plain)
    model = _voice_like_model()
    expose_durations(model)
    network = PiperNetwork(model, hop_length=HOP, threads=1)
    assert network.streams
    latents = network.front(feeds)
    assert latents.frames == frames
    assert latents.frames_per_id is not None and latents.frames_per_id.tolist() == [frames]
    whole = network.decode(latents, 0, frames)
    np.testing.assert_allclose(whole, expected.reshape(-1), atol=1e-5)
    cuts = [0, 1, 13, frames // 2, frames - 3, frames]
    pieces = [network.decode(latents, a, b) for a, b in zip(cuts, cuts[1:], strict=False)]
    assert [len(p) for p in pieces] == [(b - a) * HOP for a, b in zip(cuts, cuts[1:], strict=False)]
    np.testing.assert_allclose(np.concatenate(pieces), whole, atol=1e-5)


def test_a_decoder_of_another_kind_runs_whole_but_still_gives_spans() -> None:
    model = _voice_like_model()
    node = next(n for n in model.graph.node if n.name == "/dec/LeakyRelu")
    node.op_type = "Softsign"  # elementwise in truth, but not an op the split knows
    del node.attribute[:]
    expose_durations(model)
    assert split_at_decoder(model) is None
    network = PiperNetwork(model, hop_length=HOP, threads=1)
    assert not network.streams
    latents = network.front(_feeds(60))
    whole = network.decode(latents, 0, latents.frames)
    assert len(whole) == 60 * HOP
    np.testing.assert_array_equal(network.decode(latents, 10, 20), whole[10 * HOP : 20 * HOP])
