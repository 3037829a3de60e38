"""Read YouTube's XML caption formats: srv3 and srv2 (`<timedtext>`) and srv1 (`<transcript>`).

srv3 is json3 in XML: `<p t= d=>` paragraphs in milliseconds, speech-recognition ones made
of `<s t= ac=>` word spans and separated by `a="1"` line-break paragraphs. srv2 has
`<text t= d=>` in milliseconds, srv1 `<text start= dur=>` in seconds; both escape their
text twice (`&amp;#39;`), so it is decoded again as markup.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, replace

from app.transcripts.cues import Cue

# Entity declarations can expand a few bytes into gigabytes; captions never declare any.
_DECLARATION = re.compile(r"<!(DOCTYPE|ENTITY)", re.IGNORECASE)


class TimedTextError(ValueError):
    """The document is not one of YouTube's XML caption formats, or is corrupt."""


@dataclass(frozen=True, slots=True)
class Paragraph:
    """One srv3 `<p>`: its span in ms, its text, and (start ms, text) per `<s>` span."""

    start_ms: int
    end_ms: int
    text: str
    spans: tuple[tuple[int, str], ...]
    appended: bool  # a="1": adds a line break to the window, says nothing


def parse_document(text: str) -> ElementTree.Element:
    """The root element of an XML caption document."""
    if _DECLARATION.search(text):
        raise TimedTextError("caption XML must not declare a DOCTYPE or entities")
    try:
        # Safe without defusedxml: declarations are refused above, and ElementTree
        # resolves no external entities.
        return ElementTree.fromstring(text.removeprefix("\ufeff").lstrip())  # noqa: S314
    except ElementTree.ParseError as exc:
        raise TimedTextError(f"not valid caption XML: {exc}") from exc


def srv3_paragraphs(root: ElementTree.Element) -> list[Paragraph]:
    """The `<p>` elements of an srv3 document, in document order.

    A styled track fades text out as a run of short `<p>` repeating it in the same place
    with another pen; such a run is one paragraph.
    """
    if root.tag != "timedtext":
        raise TimedTextError(f"not srv3 captions: the root element is <{root.tag}>")
    body = root.find("body")
    container = body if body is not None else root
    paragraphs: list[Paragraph] = []
    last_in_place: dict[str, int] = {}  # position (wp) -> index of its latest paragraph
    for index, element in enumerate(container.iter("p")):
        start_ms = _milliseconds(element, "t", index)
        spans = tuple(
            (start_ms + _milliseconds(span, "t", index), _text_of(span))
            for span in element.iter("s")
        )
        paragraph = Paragraph(
            start_ms,
            start_ms + _milliseconds(element, "d", index),
            _text_of(element),
            spans,
            element.get("a") == "1",
        )
        place = element.get("wp", "")
        earlier = last_in_place.get(place)
        if earlier is not None and _continues(paragraphs[earlier], paragraph):
            paragraphs[earlier] = replace(paragraphs[earlier], end_ms=paragraph.end_ms)
            continue
        last_in_place[place] = len(paragraphs)
        paragraphs.append(paragraph)
    return paragraphs


def _continues(earlier: Paragraph, later: Paragraph) -> bool:
    """Whether `later` shows the same text right where and when `earlier` ends."""
    return (
        not earlier.appended
        and earlier.text == later.text
        and earlier.start_ms < later.start_ms <= earlier.end_ms + 1
        and not later.spans[1:]
    )


def legacy_cues(root: ElementTree.Element) -> list[Cue]:
    """The cues of an srv2 (`<timedtext><text t= d=>`) or srv1 (`<transcript><text start=
    dur=>`) document, their text still escaped once (decode it as markup)."""
    if root.tag == "transcript":
        seconds = True
    elif root.tag == "timedtext":
        seconds = False
    else:
        raise TimedTextError(f"not srv1 or srv2 captions: the root element is <{root.tag}>")
    cues = []
    for index, element in enumerate(root.iter("text")):
        if seconds:
            start = _seconds(element, "start", index)
            end = start + _seconds(element, "dur", index)
        else:
            start = _milliseconds(element, "t", index) / 1000
            end = start + _milliseconds(element, "d", index) / 1000
        cues.append(Cue(start, end, _text_of(element)))
    return cues


def _text_of(element: ElementTree.Element) -> str:
    """All text inside `element`; `<br/>` is a line break."""
    parts = [element.text or ""]
    for child in element:
        parts.append("\n" if child.tag == "br" else _text_of(child))
        parts.append(child.tail or "")
    return "".join(parts)


def _milliseconds(element: ElementTree.Element, name: str, index: int) -> int:
    return round(_number(element, name, index))


def _seconds(element: ElementTree.Element, name: str, index: int) -> float:
    return _number(element, name, index)


def _number(element: ElementTree.Element, name: str, index: int) -> float:
    raw = element.get(name, "0")
    try:
        value = float(raw)
    except ValueError:
        raise TimedTextError(f"caption {index} has an invalid {name}: {raw!r}") from None
    if not math.isfinite(value) or value < 0:
        raise TimedTextError(f"caption {index} has an invalid {name}: {raw!r}")
    return value
