"""The relay's line splitting: final state of \\r-rewritten lines, pieces of over-long lines, the
sync token held back across reads."""

from __future__ import annotations

from tracker.capture.relay import LineSplitter, token_overlap, utf8_cut


def feed_all(chunks: list[bytes], max_line: int = 1024) -> list[bytes]:
    splitter = LineSplitter(max_line)
    out: list[bytes] = []
    for chunk in chunks:
        out += splitter.feed(chunk)
    tail = splitter.flush()
    return out + ([tail] if tail is not None else [])


def test_plain_lines_empty_lines_and_a_partial_tail() -> None:
    assert feed_all([b"a\nbb\n\nccc"]) == [b"a", b"bb", b"", b"ccc"]


def test_lines_split_across_chunks_are_joined() -> None:
    assert feed_all([b"hel", b"lo wo", b"rld\nx", b"y\n"]) == [b"hello world", b"xy"]


def test_carriage_return_keeps_the_final_state() -> None:
    bar = b"".join(b"\r%3d%% |%-10s|" % (i, b"#" * (i // 10)) for i in range(101))
    assert feed_all([bar + b"\n"]) == [b"100% |##########|"]


def test_progress_bar_split_over_many_reads_still_gives_one_row() -> None:
    chunks = [b"\r%d/1000" % i for i in range(1001)] + [b"\n", b"next\n"]
    assert feed_all(chunks) == [b"1000/1000", b"next"]


def test_line_ending_in_carriage_return_keeps_the_text_before_it() -> None:
    assert feed_all([b"windows line\r\n", b"bar 50%\r", b"\n"]) == [b"windows line", b"bar 50%"]
    assert feed_all([b"abc\r\r\n"]) == [b"abc"]


def test_partial_line_longer_than_the_cap_is_cut_into_pieces() -> None:
    data = b"x" * 2500
    pieces = feed_all([data[:1000], data[1000:]], max_line=1024)
    assert b"".join(pieces) == data and all(len(p) <= 1024 for p in pieces)
    assert len(pieces) == 3


def test_pieces_do_not_split_a_utf8_character() -> None:
    text = ("é" * 1000).encode()  # 2 bytes each: an odd cut would split one
    pieces = feed_all([text], max_line=1001)
    assert all(p.decode("utf-8") for p in pieces)  # strict decode: no piece is split
    assert b"".join(pieces) == text


def test_memory_stays_bounded_for_an_endless_bar() -> None:
    splitter = LineSplitter(256)
    for i in range(10_000):
        splitter.feed(b"\r" + b"#" * (i % 300))
        assert len(splitter._cur) <= 256 and len(splitter._prev) <= 256


def test_utf8_cut_steps_back_over_continuation_bytes() -> None:
    buf = b"ab\xc3\xa9cd"  # "abécd"
    assert utf8_cut(buf, 3) == 2
    assert utf8_cut(buf, 4) == 4


def test_token_overlap_holds_back_only_a_real_token_prefix() -> None:
    token = b"\0tracker-sync-0123\0"
    assert token_overlap(b"output\0trac", token) == 5
    assert token_overlap(b"output\0", token) == 1
    assert token_overlap(b"output\0x", token) == 0
    assert token_overlap(b"plain text", token) == 0
