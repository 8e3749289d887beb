"""Edits of a Piper voice's ONNX graph made once at load: timings out, a faster decoder.

- The ``Ceil`` tensor (decoder frames per phoneme id) becomes a graph output, so exact phone
  timings come back with the audio.
- The graph is split before its decoder: a front half turns phoneme ids into latent frames,
  and the decoder turns any run of those frames (with enough neighbours) into its audio, so a
  sentence's audio can be decoded, and heard, piece by piece.
- The decoder's one-dimensional convolutions are rewritten as two-dimensional ones over a
  height of 1. The output is the same to float rounding, but onnxruntime then runs them in
  its blocked (NCHWc) layout, markedly faster on one core than its 1-D path.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

DECODER_PREFIX = "/dec/"
# Node kinds the decoder may hold for the rewrite to be safe: elementwise ops work on any rank.
_ELEMENTWISE = frozenset({"Add", "Sub", "Mul", "Div", "LeakyRelu", "Relu", "Tanh"})
_CONVS = frozenset({"Conv", "ConvTranspose"})
_AXIS = "__visavis_axis_2"
_MIN_BLOCKED_CHANNELS = 8  # narrower convs (the 1-channel output) waste the blocked layout


def expose_durations(model: Any) -> bool:
    """Make the graph's only ``Ceil`` tensor an output; False when there is none (or several)."""
    from onnx import ValueInfoProto

    names = {out for node in model.graph.node if node.op_type == "Ceil" for out in node.output}
    if len(names) != 1:
        return False
    name = next(iter(names))
    if any(output.name == name for output in model.graph.output):
        return True
    info = ValueInfoProto()
    info.name = name
    model.graph.output.append(info)
    return True


@dataclass(frozen=True)
class DecoderSplit:
    """A voice's graph cut before its decoder.

    ``front`` maps the voice's inputs to ``latent`` (frames on the last axis), ``durations``
    and any other tensor the decoder reads (``shared``, e.g. a speaker embedding); ``decoder``
    maps those to the audio. ``context_frames`` latent frames on each side of a run are enough
    for its audio to come out as in the whole decode.
    """

    front: Any
    decoder: Any
    latent: str
    shared: tuple[str, ...]
    durations: str
    context_frames: int


def split_at_decoder(model: Any, prefix: str = DECODER_PREFIX) -> DecoderSplit | None:
    """Cut ``model`` before its decoder; None when its decoder is not a plain HiFi-GAN.

    The ``Ceil`` durations tensor must already be exposed (``expose_durations``).
    """
    from onnx.shape_inference import infer_shapes
    from onnx.utils import Extractor

    graph = model.graph
    durations = next((n.output[0] for n in graph.node if n.op_type == "Ceil"), None)
    if durations is None or len(graph.output) != 2:
        return None
    decoder_nodes = [node for node in graph.node if node.name.startswith(prefix)]
    first_conv = next((n for n in decoder_nodes if n.op_type == "Conv"), None)
    if first_conv is None:
        return None
    produced = {out for node in decoder_nodes for out in node.output}
    known = {init.name for init in graph.initializer}
    known |= {node.output[0] for node in graph.node if node.op_type == "Constant"}
    entering = [
        name
        for node in decoder_nodes
        for name in node.input
        if name and name not in produced and name not in known
    ]
    latent = first_conv.input[0]
    if latent not in entering:
        return None
    shared = tuple(dict.fromkeys(name for name in entering if name != latent))
    audio = graph.output[0].name
    described = {value.name for value in graph.value_info}
    if latent not in described or not described.issuperset(shared):
        # The halves' new inputs and outputs need types: exports usually carry them.
        model = infer_shapes(model)
    extractor = Extractor(model)
    inputs = [value.name for value in graph.input]
    try:
        front = extractor.extract_model(inputs, [latent, *shared, durations])
        decoder = extractor.extract_model([latent, *shared], [audio])
    except ValueError:  # a tensor without a known type: no split
        return None
    context = receptive_frames(decoder)
    if context is None:
        return None
    return DecoderSplit(front, decoder, latent, shared, durations, context)


def receptive_frames(decoder: Any) -> int | None:
    """Latent frames each side that reach one frame's audio (a bound); None if unknown.

    The reach of every tensor is followed through the graph (the longest path of
    convolutions to it, parallel branches not adding up); any op that could mix time in
    another way gives None.
    """
    graph = decoder.graph
    # tensor -> (reach in latent frames, output samples per latent frame)
    reach: dict[str, tuple[float, int]] = {value.name: (0.0, 1) for value in graph.input}
    for node in graph.node:
        sources = [reach[name] for name in node.input if name in reach]
        if not sources:
            continue  # constants only
        radius, scale = max(r for r, _ in sources), sources[0][1]
        if node.op_type in _CONVS:
            attributes = {a.name: list(a.ints) for a in node.attribute}
            kernel = attributes.get("kernel_shape", [0])[-1]
            dilation = attributes.get("dilations", [1])[-1]
            stride = attributes.get("strides", [1])[-1]
            if kernel <= 0 or (node.op_type == "Conv" and stride != 1):
                return None
            if node.op_type == "Conv":
                radius += dilation * (kernel - 1) / 2 / scale
            else:
                radius += math.ceil(kernel / stride) / scale
                scale *= stride
        elif node.op_type not in _ELEMENTWISE and node.op_type not in ("Unsqueeze", "Squeeze"):
            return None
        for name in node.output:
            reach[name] = (radius, scale)
    ends = [reach[value.name][0] for value in graph.output if value.name in reach]
    return math.ceil(max(ends)) if ends else None


def decoder_to_2d(model: Any, prefix: str = DECODER_PREFIX) -> bool:
    """Rewrite the decoder's 1-D convolutions as 2-D ones in place; False leaves it untouched.

    Only a decoder made of convolutions and elementwise ops with scalar constants is
    rewritten (HiFi-GAN, as in every Piper VITS voice); anything else is left as it is.
    """
    from onnx import helper

    graph = model.graph
    region = _region(graph, prefix)
    if not region:
        return False
    region_ids = {id(node) for node in region}
    initializers = {init.name: init for init in graph.initializer}
    constants = {n.output[0]: n for n in graph.node if n.op_type == "Constant"}
    produced = {out for node in region for out in node.output}
    outside_inputs = {name for n in graph.node if id(n) not in region_ids for name in n.input}
    entering: list[str] = []
    weights: list[Any] = []
    for node in region:
        for position, name in enumerate(node.input):
            if not name or name in produced:
                continue
            if node.op_type in _CONVS and position > 0:
                if position == 1:
                    weight = initializers[name]
                    if len(weight.dims) != 3 or name in outside_inputs:
                        return False
                    weights.append(weight)
                continue
            if name in initializers or name in constants:
                if _size(initializers.get(name), constants.get(name)) != 1:
                    return False
                continue
            if name not in entering:
                entering.append(name)
    leaving = {name for name in produced if name in outside_inputs} | {
        output.name for output in graph.output if output.name in produced
    }

    graph.initializer.append(helper.make_tensor(_AXIS, 7, [1], [2]))  # 7: INT64
    renamed = {name: f"{name}__2d" for name in (*entering, *leaving)}
    for weight in weights:
        # A unit axis leaves the data's order as it is: only the shape changes.
        weight.dims[:] = [weight.dims[0], weight.dims[1], 1, weight.dims[2]]
    ordered: list[Any] = []
    for node in graph.node:
        if id(node) not in region_ids:
            ordered.append(node)
            continue
        for name in node.input:
            if name in entering:
                entering.remove(name)
                widen = [name, _AXIS]
                ordered.append(helper.make_node("Unsqueeze", widen, [renamed[name]], name=name))
        node.input[:] = [renamed.get(name, name) for name in node.input]
        if node.op_type in _CONVS:
            _widen_conv_attributes(node)
        ordered.append(node)
        for name in list(node.output):
            if name in leaving:
                node.output[list(node.output).index(name)] = renamed[name]
                narrow = [renamed[name], _AXIS]
                ordered.append(helper.make_node("Squeeze", narrow, [name], name=name))
    del graph.node[:]
    graph.node.extend(ordered)
    # Shapes recorded for the region's tensors are one-dimensional no more.
    kept = [info for info in graph.value_info if info.name not in produced]
    del graph.value_info[:]
    graph.value_info.extend(kept)
    return True


def _region(graph: Any, prefix: str) -> list[Any]:
    """Decoder nodes up to its first narrow convolution, if all are of a rewritable kind."""
    initializers = {init.name: init for init in graph.initializer}
    region: list[Any] = []
    for node in graph.node:
        if not node.name.startswith(prefix):
            continue
        if node.op_type in _CONVS:
            weight = initializers.get(node.input[1]) if len(node.input) > 1 else None
            if weight is None or len(weight.dims) != 3:
                return []
            out_channels = weight.dims[1] if node.op_type == "ConvTranspose" else weight.dims[0]
            if out_channels < _MIN_BLOCKED_CHANNELS:
                break
        elif node.op_type not in _ELEMENTWISE:
            return []
        region.append(node)
    return region


def _size(initializer: Any, constant: Any) -> int:
    """Number of elements of a constant input (an initializer or a Constant node's value)."""
    if initializer is not None:
        dims = list(initializer.dims)
    else:
        value = next((a.t for a in constant.attribute if a.name == "value"), None)
        if value is None:
            return -1
        dims = list(value.dims)
    size = 1
    for dim in dims:
        size *= dim
    return size


def _widen_conv_attributes(node: Any) -> None:
    """Attributes of a 1-D (ConvTranspose) Conv for its 2-D twin over a height of 1."""
    for attribute in node.attribute:
        values = list(attribute.ints)
        if attribute.name in ("kernel_shape", "dilations", "strides"):
            attribute.ints[:] = [1, *values]
        elif attribute.name == "output_padding":
            attribute.ints[:] = [0, *values]
        elif attribute.name == "pads" and len(values) == 2:
            attribute.ints[:] = [0, values[0], 0, values[1]]
