"""Counts in logs, errors and reports."""

from __future__ import annotations

from tencent_ess.wording import quantity


def test_counts_read_as_words_do():
    assert [quantity(n, "chunk") for n in (0, 1, 2)] == ["0 chunks", "1 chunk", "2 chunks"]
    assert quantity(1, "entry", "entries") == "1 entry" and quantity(3, "entry", "entries") == "3 entries"
