"""CSV parsing: every bad file is one clear AccordError, never a traceback (fuzzed)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accord.errors import AccordError
from accord.verify.location.inputs import (
    Landmark,
    RttSample,
    min_rtt_by_landmark,
    parse_landmarks,
    parse_peer_rtts,
    parse_rtts,
    read_text,
    select_target,
)


def test_landmarks_parse_with_optional_and_extra_columns() -> None:
    text = "id,lat,lon,name,country,owner\nfra,50.11,8.68,Frankfurt,DE,x\nsin,1.35,103.8,,,\n"
    lms = parse_landmarks(text)
    assert lms == [
        Landmark("fra", 50.11, 8.68, "Frankfurt", "DE"),
        Landmark("sin", 1.35, 103.8, "", ""),
    ]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("", "is empty"),
        ("id,lat\nx,1\n", "missing column(s) lon"),
        ("id,lat,lon\nx,,5\n", "lat: is missing"),
        ("id,lat,lon\nx,91,5\n", "outside [-90, 90]"),
        ("id,lat,lon\nx,1,nan\n", "not finite"),
        ("id,lat,lon\nx,1,abc\n", "not a number"),
        ("id,lat,lon\nx,1,2\nx,3,4\n", "appears twice"),
        ("id,lat,lon\n,1,2\n", "id: is missing"),
        ("id,lat,lon\n", "no landmark rows"),
        ("id,lat,lon\nx,1,2,3\n", "fields but the header has"),
    ],
)
def test_bad_landmark_files_name_the_line_and_the_fix(text: str, needle: str) -> None:
    with pytest.raises(AccordError) as err:
        parse_landmarks(text, "L.csv")
    assert needle in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("landmark_id,rtt_ms\nfra,-1.5\n", "is negative"),
        ("landmark_id,rtt_ms\nfra,\n", "rtt_ms: is missing"),
        ("landmark_id,rtt_ms\nfra,inf\n", "not finite"),
        ("landmark_id\nfra\n", "missing column(s) rtt_ms"),
    ],
)
def test_bad_rtt_files_are_refused(text: str, needle: str) -> None:
    with pytest.raises(AccordError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        parse_rtts(text, "R.csv")


def test_unknown_landmark_is_refused_and_minimum_is_kept() -> None:
    lms = [Landmark("a", 0.0, 0.0), Landmark("b", 1.0, 1.0)]
    best = min_rtt_by_landmark(lms, [RttSample("a", 9.0), RttSample("a", 7.5), RttSample("b", 3.0)])
    assert best == {"a": 7.5, "b": 3.0}
    with pytest.raises(AccordError, match="unknown landmark 'zz'"):
        min_rtt_by_landmark(lms, [RttSample("zz", 1.0)])


def test_several_targets_need_one_named() -> None:
    rows = parse_rtts("landmark_id,rtt_ms,target\na,1,t1\na,2,t2\n")
    with pytest.raises(AccordError, match="holds 2 targets"):
        select_target(rows, None, "R.csv")
    assert [r.rtt_ms for r in select_target(rows, "t2", "R.csv")] == [2.0]
    with pytest.raises(AccordError, match="no rows for target"):
        select_target(rows, "t3", "R.csv")


def test_peer_rtts_refuse_self_pairs() -> None:
    with pytest.raises(AccordError, match="equals landmark_id"):
        parse_peer_rtts("landmark_id,peer_id,rtt_ms\na,a,1\n")


def test_missing_and_binary_files_are_clear_errors(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(AccordError, match="file not found"):
        read_text(tmp_path / "nope.csv", "--rtts")
    bad = tmp_path / "bin.csv"
    bad.write_bytes(b"\xff\xfe\x00\x01")
    with pytest.raises(AccordError, match="not UTF-8"):
        read_text(bad, "--rtts")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_fuzz_arbitrary_text_only_ever_raises_accord_errors(text: str) -> None:
    for parser in (parse_landmarks, parse_rtts, parse_peer_rtts):
        try:
            parser(text)
        except AccordError as err:
            assert str(err)


_cell = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(alphabet=',"\n\r -.0123456789eE', max_size=12),
    st.text(max_size=8),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(_cell, min_size=0, max_size=6), max_size=8))
def test_fuzz_csv_shaped_input_with_valid_headers(rows: list[list[str]]) -> None:
    body = "\n".join(",".join(r) for r in rows)
    for header, parser in (
        ("id,lat,lon,name,country", parse_landmarks),
        ("landmark_id,rtt_ms,target", parse_rtts),
        ("landmark_id,peer_id,rtt_ms", parse_peer_rtts),
    ):
        try:
            parsed = parser(header + "\n" + body)
        except AccordError:
            continue
        for item in parsed:
            if isinstance(item, Landmark):
                assert -90 <= item.lat <= 90 and -180 <= item.lon <= 180
            else:
                assert item.rtt_ms >= 0


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.text(alphabet="abcdefghij-_0123456789", min_size=1, max_size=10),
            st.floats(-90, 90),
            st.floats(-180, 180),
        ),
        min_size=1,
        max_size=20,
        unique_by=lambda t: t[0],
    )
)
def test_valid_landmarks_round_trip(rows: list[tuple[str, float, float]]) -> None:
    text = "id,lat,lon\n" + "\n".join(f"{i},{a!r},{o!r}" for i, a, o in rows)
    assert [(x.id, x.lat, x.lon) for x in parse_landmarks(text)] == rows
