"""Parsing a Range header against a file's recorded size (RFC 9110 section 14)."""

from __future__ import annotations

import pytest

from app.downloads.exceptions import InvalidRange, RangeNotSatisfiable
from app.downloads.files import ByteRange, parse_range


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("bytes=0-9", ByteRange(0, 9)),
        ("bytes=90-", ByteRange(90, 99)),
        ("bytes=90-500", ByteRange(90, 99)),
        ("bytes=-10", ByteRange(90, 99)),
        ("bytes=-500", ByteRange(0, 99)),
        ("Bytes = 5-5", ByteRange(5, 5)),
        ("bytes=0-1, , ", ByteRange(0, 1)),
        ("bytes=0-1,4-5", None),
        ("bytes=0-1,100-", None),
        ("items=0-1", None),
        ("garbage", None),
    ],
)
def test_the_range_to_serve(header: str | None, expected: ByteRange | None) -> None:
    assert parse_range(header, 100) == expected


@pytest.mark.parametrize("header", ["bytes=100-", "bytes=-0", "bytes=100-,200-300"])
def test_no_satisfiable_range_is_416_with_the_size(header: str) -> None:
    with pytest.raises(RangeNotSatisfiable) as raised:
        parse_range(header, 100)
    assert raised.value.headers == {"Content-Range": "bytes */100"}


def test_an_empty_file_satisfies_no_range() -> None:
    with pytest.raises(RangeNotSatisfiable):
        parse_range("bytes=-5", 0)


@pytest.mark.parametrize(
    "header", ["bytes=", "bytes=,", "bytes=a-b", "bytes=5-1", "bytes=-", "bytes=0-1,x"]
)
def test_a_malformed_byte_range_is_invalid(header: str) -> None:
    with pytest.raises(InvalidRange):
        parse_range(header, 100)
