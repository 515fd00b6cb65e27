"""Rows handed between the onboarding tasks through XCom: one JSON text per list."""

from __future__ import annotations

from tencent_ess.onboarding.handoff import pack, unpack


def test_rows_round_trip_as_one_text_with_their_characters_kept():
    rows = [
        {"index": 0, "seal_name": "合同专用章", "user_ids": ["n9528"], "created": True, "note": 'a "q" \\ é'},
        {"index": 1, "seal_name": "😀", "seal_id": "", "granted": []},
    ]
    packed = pack(rows)
    assert isinstance(packed, str) and "合同专用章" in packed
    assert unpack(packed) == rows


def test_a_list_pushed_before_rows_were_packed_still_reads():
    """A run planned by an earlier version, then cleared: its chunk XComs are lists."""
    legacy = [{"index": 3, "seal_name": "章"}]
    assert unpack(legacy) == legacy
    assert unpack(None) == [] and unpack(pack([])) == []
