"""The outputs load where Rhubarb Lip Sync's do (its documented JSON/TSV/XML layouts)."""

import json
import re
import xml.etree.ElementTree as ET

import pytest

from visavis.speech.lipsync import VisemeTrack, animate, formats
from visavis.speech.lipsync.formats import ARKIT_BLENDSHAPES, arkit_weights
from visavis.speech.lipsync.rules import OCULUS_VISEMES
from visavis.speech.tts.base import AudioChunk


@pytest.fixture(scope="module")
def track(espeak_chunk: AudioChunk) -> VisemeTrack:
    return animate(espeak_chunk.pcm, espeak_chunk.sample_rate, phones=espeak_chunk.phones)


def test_json_matches_rhubarb_layout(track: VisemeTrack) -> None:
    text = formats.to_rhubarb_json(track, "speech.wav")
    document = json.loads(text)
    assert set(document) == {"metadata", "mouthCues"}
    assert document["metadata"]["soundFile"] == "speech.wav"
    assert document["metadata"]["duration"] == round(track.duration, 2)
    cues = document["mouthCues"]
    assert all(set(c) == {"start", "end", "value"} for c in cues)
    assert cues[0]["start"] == 0.0
    assert cues[-1]["end"] == document["metadata"]["duration"]
    assert all(a["end"] == b["start"] for a, b in zip(cues, cues[1:], strict=False))
    assert all(c["end"] > c["start"] for c in cues)
    assert all(c["value"] in "ABCDEFGHX" and len(c["value"]) == 1 for c in cues)
    # Times are written with two decimals, as Rhubarb writes them.
    assert re.search(r'"start": \d+\.\d\d, "end": \d+\.\d\d', text)


def test_tsv_matches_rhubarb_layout(track: VisemeTrack) -> None:
    lines = formats.to_tsv(track).splitlines()
    rows = [line.split("\t") for line in lines]
    assert all(len(r) == 2 and re.fullmatch(r"\d+\.\d\d", r[0]) for r in rows)
    times = [float(r[0]) for r in rows]
    assert times == sorted(times) and times[0] == 0.0
    assert rows[-1] == [f"{track.duration:.2f}", "X"]
    basic = formats.to_tsv(track.with_shapes("")).splitlines()
    assert basic[-1].endswith("\tA")  # Rhubarb ends with the rest shape of the chosen set


def test_xml_matches_rhubarb_layout(track: VisemeTrack) -> None:
    root = ET.fromstring(formats.to_xml(track, "speech.wav"))
    assert root.tag == "rhubarbResult"
    assert root.findtext("metadata/soundFile") == "speech.wav"
    cues = root.findall("mouthCues/mouthCue")
    assert cues and all(c.text in list("ABCDEFGHX") for c in cues)
    assert cues[0].get("start") == "0.00"


def test_dat_is_moho_switch_data(track: VisemeTrack) -> None:
    lines = formats.to_dat(track, 24).splitlines()
    assert lines[0] == "MohoSwitch1"
    frames = [int(line.split()[0]) for line in lines[1:]]
    assert frames[0] == 1 and frames == sorted(set(frames))
    assert lines[-1] == f"{1 + int(24 * track.duration)} X"


@pytest.mark.parametrize("fps", [24, 30])
def test_brief_closures_survive_frame_based_outputs(track: VisemeTrack, fps: int) -> None:
    closures = [c for c in track.cues if c.shape == "A"]
    assert closures and min(c.end - c.start for c in closures) < 1 / fps
    shown = [line.split()[1] for line in formats.to_dat(track, fps).splitlines()[1:]]
    assert shown.count("A") == len(closures)
    weights = arkit_weights(track, fps)
    closed = weights[:, ARKIT_BLENDSHAPES.index("mouthClose")]
    for cue in closures:
        frame = int(round((cue.start + cue.end) / 2 * fps))
        assert closed[max(0, frame - 1) : frame + 2].max() >= 0.59


def test_oculus_and_arkit_tracks(track: VisemeTrack) -> None:
    oculus = json.loads(formats.to_oculus(track))
    visemes = {cue["viseme"] for cue in oculus["visemeCues"]}
    assert visemes <= set(OCULUS_VISEMES) and "PP" in visemes and "sil" in visemes
    arkit = json.loads(formats.to_arkit(track, fps=30))
    assert arkit["blendshapes"] == list(ARKIT_BLENDSHAPES)
    assert len(arkit["frames"]) == int(track.duration * 30) + 2 or len(arkit["frames"]) >= int(
        track.duration * 30
    )
    weights = arkit_weights(track, 60)
    assert weights.min() >= 0.0 and weights.max() <= 1.0
    closed = ARKIT_BLENDSHAPES.index("mouthClose")
    assert weights[:, closed].max() > 0.3


def test_compact_cues_carry_shape_and_viseme(track: VisemeTrack) -> None:
    compact = track.to_compact()
    assert all(c["s"] in "ABCDEFGHX" and c["v"] in OCULUS_VISEMES for c in compact)
    json.dumps(compact)
