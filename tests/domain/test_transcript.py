"""domain.transcript: the transcript bounded for a model's context, and the whole one as text."""

from __future__ import annotations

from caller_mcp.domain.calls import Turn
from caller_mcp.domain.transcript import (
    MAX_TRANSCRIPT_CHARS,
    MAX_TURN_CHARS,
    TURN_OVERHEAD_CHARS,
    UNTRUSTED_NOTE,
    bounded_transcript,
    transcript_text,
)


def _cost(turns) -> int:
    return sum(len(t.message) + TURN_OVERHEAD_CHARS for t in turns)


def _numbered(n: int, words: int = 100) -> list[Turn]:
    return [Turn("caller" if i % 2 else "business", f"{i:04d} " + "x" * (words - 5), float(i)) for i in range(n)]


def test_bounded_transcript_returns_a_short_transcript_whole_and_untruncated():
    turns = [Turn("caller", "Hi, I'd like a pizza.", 0.5), Turn("business", "Sure, which one?", 2.0)]
    lines, truncated = bounded_transcript(turns)
    assert lines == turns
    assert truncated is False


def test_bounded_transcript_keeps_a_transcript_that_fits_exactly():
    turns = [Turn("business", "y" * (MAX_TRANSCRIPT_CHARS - TURN_OVERHEAD_CHARS))]
    lines, truncated = bounded_transcript(turns)
    assert lines == turns and truncated is False


def test_bounded_transcript_keeps_a_fitting_turn_longer_than_the_turn_limit_whole():
    long_turn = Turn("business", "z" * (MAX_TURN_CHARS + 100))
    lines, truncated = bounded_transcript([long_turn])
    assert lines[0].message == long_turn.message and truncated is False


def test_bounded_transcript_of_a_long_call_keeps_its_opening_and_its_end_within_budget():
    turns = _numbered(200)
    lines, truncated = bounded_transcript(turns)
    assert truncated is True
    assert _cost(lines) <= MAX_TRANSCRIPT_CHARS
    assert lines[0] == turns[0]
    assert lines[-1] == turns[-1]
    kept = [turns.index(t) for t in lines]
    assert kept == sorted(kept)  # in call order
    gap = next(i for i in range(1, len(kept)) if kept[i] != kept[i - 1] + 1)
    assert kept[:gap] == list(range(gap))  # a contiguous head …
    assert kept[gap:] == list(range(kept[gap], 200))  # … and a contiguous tail
    assert _cost(lines[:gap]) <= MAX_TRANSCRIPT_CHARS // 3
    assert len(lines) < len(turns)


def test_bounded_transcript_gives_the_end_more_room_than_the_opening():
    lines, _ = bounded_transcript(_numbered(200))
    head = [t for t in lines if int(t.message[:4]) < 100]
    tail = [t for t in lines if int(t.message[:4]) >= 100]
    assert len(tail) > len(head) > 0


def test_bounded_transcript_bounds_many_short_turns_by_their_framing():
    turns = [Turn("caller", "ok", float(i)) for i in range(200)]  # 400 characters of words
    lines, truncated = bounded_transcript(turns)
    assert truncated is True
    assert _cost(lines) <= MAX_TRANSCRIPT_CHARS
    assert len(lines) < 200


def test_bounded_transcript_clips_long_turns_of_a_long_call_to_the_turn_limit():
    turns = [Turn("business", str(i) * 2_000, float(i)) for i in range(10)]
    lines, truncated = bounded_transcript(turns)
    assert truncated is True
    assert lines
    for line in lines:
        assert len(line.message) == MAX_TURN_CHARS
        assert line.message.endswith("…")
    assert lines[0].message.startswith("0" * 10) and lines[0].secs == 0.0 and lines[0].role == "business"


def test_bounded_transcript_of_no_turns_is_empty():
    assert bounded_transcript([]) == ([], False)


def test_bounded_transcript_respects_a_smaller_budget():
    turns = _numbered(20)
    lines, truncated = bounded_transcript(turns, budget=600)
    assert truncated is True and _cost(lines) <= 600 and lines[-1] == turns[-1]


def test_transcript_text_has_header_warning_and_one_line_per_turn():
    text = transcript_text(
        "Transcript of call call_1",
        [Turn("caller", "Hi there.", 0.0), Turn("business", "Pizza Palace, hello.", 12.5), Turn("business", "Hold on.")],
    )
    assert text == (
        "Transcript of call call_1\n"
        f"Note: the {UNTRUSTED_NOTE}\n"
        "\n"
        "[0s] caller: Hi there.\n"
        "[12.5s] business: Pizza Palace, hello.\n"
        "business: Hold on.\n"
    )


def test_transcript_text_without_turns_says_no_words_were_spoken_yet():
    text = transcript_text("Header", [])
    assert text == f"Header\nNote: the {UNTRUSTED_NOTE}\n\n(no words were spoken yet)\n"


def test_transcript_text_keeps_every_turn_of_a_long_call():
    turns = _numbered(200)
    text = transcript_text("H", turns)
    assert text.count("\n") == 3 + 200
    assert "0199 " in text and "(no words" not in text
