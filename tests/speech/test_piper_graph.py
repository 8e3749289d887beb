"""The load-time graph edits keep a Piper-style decoder's output and expose its durations."""

import numpy as np
import onnx
import onnxruntime
from onnx import TensorProto, helper, numpy_helper

from visavis.speech.tts.piper_graph import decoder_to_2d, expose_durations


def _decoder_like_model() -> onnx.ModelProto:
    """A HiFi-GAN-shaped toy: conv, LeakyReLU, upsampling, dilated residual, 1-channel out."""
    rng = np.random.default_rng(0)

    def weight(name: str, *shape: int) -> onnx.TensorProto:
        return numpy_helper.from_array((rng.normal(size=shape) * 0.2).astype(np.float32), name)

    nodes = [
        helper.make_node("Ceil", ["durations"], ["/Ceil_output_0"], name="/Ceil"),
        helper.make_node("Conv", ["x", "w_pre", "b_pre"], ["pre"], name="/dec/conv_pre/Conv",
                         kernel_shape=[7], pads=[3, 3]),
        helper.make_node("LeakyRelu", ["pre"], ["act"], name="/dec/LeakyRelu", alpha=0.1),
        helper.make_node("ConvTranspose", ["act", "w_up", "b_up"], ["up"],
                         name="/dec/ups.0/ConvTranspose", kernel_shape=[4], strides=[2],
                         pads=[1, 1]),
        helper.make_node("LeakyRelu", ["up"], ["up_act"], name="/dec/res/LeakyRelu", alpha=0.1),
        helper.make_node("Conv", ["up_act", "w_res"], ["res"], name="/dec/res/Conv",
                         kernel_shape=[3], dilations=[3], pads=[3, 3]),
        helper.make_node("Add", ["res", "up"], ["sum"], name="/dec/res/Add"),
        helper.make_node("Div", ["sum", "three"], ["mean"], name="/dec/Div"),
        helper.make_node("Conv", ["mean", "w_post"], ["post"], name="/dec/conv_post/Conv",
                         kernel_shape=[7], pads=[3, 3]),
        helper.make_node("Tanh", ["post"], ["audio"], name="/dec/Tanh"),
    ]  # fmt: skip
    graph = helper.make_graph(
        nodes,
        "toy",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16, "frames"]),
            helper.make_tensor_value_info("durations", TensorProto.FLOAT, [1, 1, "ids"]),
        ],
        [helper.make_tensor_value_info("audio", TensorProto.FLOAT, None)],
        [
            weight("w_pre", 32, 16, 7),
            weight("b_pre", 32),
            weight("w_up", 32, 16, 4),
            weight("b_up", 16),
            weight("w_res", 16, 16, 3),
            weight("w_post", 1, 16, 7),
            numpy_helper.from_array(np.array(3.0, dtype=np.float32), "three"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model


def _run(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    session = onnxruntime.InferenceSession(
        model.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    return [np.asarray(out) for out in session.run(None, feeds)]


def test_decoder_in_two_dimensions_gives_the_same_audio_and_the_durations() -> None:
    feeds = {
        "x": np.random.default_rng(1).normal(size=(1, 16, 50)).astype(np.float32),
        "durations": np.array([[[1.2, 3.5, 0.4]]], dtype=np.float32),
    }
    original = _decoder_like_model()
    (expected,) = _run(original, feeds)

    edited = _decoder_like_model()
    assert expose_durations(edited)
    assert decoder_to_2d(edited)
    widened = {init.name: list(init.dims) for init in edited.graph.initializer}
    assert widened["w_res"] == [16, 16, 1, 3] and widened["w_post"] == [1, 16, 7]
    audio, durations = _run(edited, feeds)
    assert audio.shape == expected.shape == (1, 1, 100)
    np.testing.assert_allclose(audio, expected, atol=1e-5)
    np.testing.assert_array_equal(durations, [[[2.0, 4.0, 1.0]]])


def test_decoders_of_another_kind_are_left_alone() -> None:
    model = _decoder_like_model()
    model.graph.node[2].op_type = "Softsign"  # not an op the rewrite knows to be elementwise
    before = model.SerializeToString()
    assert not decoder_to_2d(model)
    assert model.SerializeToString() == before
