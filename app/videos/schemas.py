"""Bodies of GET /api/v1/info and GET /api/v1/formats."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Thumbnail(BaseModel):
    url: str
    width: int | None = None
    height: int | None = None


class VideoInfo(BaseModel):
    video_id: str
    title: str | None
    duration: float | None
    channel_name: str | None
    channel_id: str | None
    upload_date: str | None
    webpage_url: str | None
    thumbnails: list[Thumbnail]
    subtitle_languages: list[str]
    automatic_caption_languages: list[str]
    translation_languages: list[str]
    is_live: bool
    live_status: str | None
    is_playlist: bool
    entry_count: int | None = Field(
        default=None,
        description="A playlist or channel: its entries, up to MAX_PLAYLIST_ITEMS (video_id is "
        "the list's id, duration the entries' total when all are known).",
    )


class MediaFormat(BaseModel):
    format_id: str
    ext: str | None
    resolution: str | None
    width: int | None
    height: int | None
    fps: float | None
    vcodec: str | None
    acodec: str | None
    filesize: int | None
    tbr: float | None
    note: str | None


class PresetChoice(BaseModel):
    format_ids: list[str]
    height: int | None
    resolution: str | None


class VideoFormats(BaseModel):
    video_id: str
    title: str | None
    formats: list[MediaFormat]
    presets: dict[str, PresetChoice]
