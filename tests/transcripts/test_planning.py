"""Which track each asked language gets: manual over automatic, translations on request."""

from __future__ import annotations

from typing import Any

from app.downloads.schemas import JobOptions
from app.transcripts.planning import CaptionSource, plan_transcripts

INFO: dict[str, Any] = {
    "subtitles": {"en": [{"ext": "vtt", "url": "u"}], "live_chat": [{"ext": "json", "url": "u"}]},
    "automatic_captions": {
        "en": [{"ext": "json3", "url": "u"}],
        "en-orig": [{"ext": "json3", "url": "u"}],
        "es": [{"ext": "json3", "url": "u"}],
        "fr": [{"ext": "json3", "url": "u?tlang=fr"}],
    },
}


def plan(**options: Any) -> dict[str, Any]:
    result = plan_transcripts(INFO, JobOptions.model_validate(options))
    return {
        "tracks": {t.language: t.source for t in result.tracks},
        "unavailable": result.unavailable,
        "warnings": [w["code"] for w in result.warnings],
    }


def test_manual_captions_win_over_automatic_ones() -> None:
    assert plan(subtitle_languages=["en", "es"])["tracks"] == {
        "en": CaptionSource.MANUAL,
        "es": CaptionSource.AUTO,
    }


def test_without_auto_captions_only_manual_tracks_are_used() -> None:
    result = plan(subtitle_languages=["en", "es"], include_auto_captions=False)
    assert result["tracks"] == {"en": CaptionSource.MANUAL}
    assert result["unavailable"] == ["es"]


def test_all_means_every_real_language_but_not_translations_or_live_chat() -> None:
    assert set(plan(subtitle_languages="all")["tracks"]) == {"en", "es"}


def test_translations_only_through_translate_to() -> None:
    assert plan(subtitle_languages=["fr"])["unavailable"] == ["fr"]
    result = plan(subtitle_languages=["en"], translate_to="fr")
    assert result["tracks"] == {"en": CaptionSource.MANUAL, "fr": CaptionSource.TRANSLATED}


def test_a_translation_the_video_does_not_offer_is_a_warning() -> None:
    result = plan(subtitle_languages=["en"], translate_to="ja")
    assert result["tracks"] == {"en": CaptionSource.MANUAL}
    assert result["warnings"] == ["translation_unavailable"]


def test_no_transcription_plans_nothing() -> None:
    assert plan(include_transcription=False)["tracks"] == {}
