from __future__ import annotations

import pytest

from app.core.config import YOUTUBE_HOSTS
from app.downloads.exceptions import UnsupportedUrl
from app.downloads.urls import check_submittable, youtube_video_id


@pytest.mark.parametrize(
    ("url", "video_id"),
    [
        ("https://www.youtube.com/watch?v=dQw4w9WgXcQ", "dQw4w9WgXcQ"),
        ("https://www.youtube.com/watch?feature=share&v=dQw4w9WgXcQ&list=PL1", "dQw4w9WgXcQ"),
        ("https://youtu.be/dQw4w9WgXcQ", "dQw4w9WgXcQ"),
        ("https://www.youtube.com/shorts/dQw4w9WgXcQ", "dQw4w9WgXcQ"),
        ("https://www.youtube.com/live/dQw4w9WgXcQ?si=abc", "dQw4w9WgXcQ"),
        ("https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ", "dQw4w9WgXcQ"),
        ("https://www.youtube.com/watch?v=dQw4w9WgXc", None),
        ("https://www.youtube.com/watch?v=dQw4w9WgXcQ&v=other000000", None),
        ("https://www.youtube.com/@blender", None),
        ("https://youtu.be/", None),
        ("https://youtu.be/dQw4w9WgXcQ%0A", None),
        ("https://www.youtube.com/watch?v=dQw4w9WgXcQ%0A", None),
    ],
)
def test_video_id_of_each_url_form(url: str, video_id: str | None) -> None:
    assert youtube_video_id(url) == video_id


def test_hosts_outside_allowed_domains_are_unsupported() -> None:
    with pytest.raises(UnsupportedUrl, match="not supported"):
        check_submittable("https://www.youtube.com.evil.example/watch?v=dQw4w9WgXcQ", YOUTUBE_HOSTS)


def test_an_operator_can_widen_the_allowed_domains() -> None:
    check_submittable("https://media.example.org/clip.html", (*YOUTUBE_HOSTS, "media.example.org"))
