"""football-data parsing and validation, on small hand-written files (no database)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from core.errors import ImportFileError
from core.importing.football_data import (
    FIXTURE_VALUE_COLUMNS,
    ODDS_VALUE_COLUMNS,
    MatchRow,
    ParsedFile,
    parse_date,
    parse_file,
    season_window,
)
from core.importing.leagues import LEAGUES, UNKNOWN_COUNTRY, known_league, league_for_code
from tests.conftest import real_file

OLD_HEADER = (
    "Div,Date,HomeTeam,AwayTeam,FTHG,FTAG,FTR,HTHG,HTAG,HTR,Referee,"
    "HS,AS,HST,AST,HF,AF,HC,AC,HY,AY,HR,AR,B365H,B365D,B365A,PSH,PSD,PSA,"
    "Bb1X2,BbMxH,BbAvH,BbMxD,BbAvD,BbMxA,BbAvA,BbOU,BbMx>2.5,BbAv>2.5,BbMx<2.5,BbAv<2.5,"
    "BbAH,BbAHh,BbMxAHH,BbAvAHH,BbMxAHA,BbAvAHA,PSCH,PSCD,PSCA"
)
OLD_ROW = (
    "E0,13/08/05,Aston Villa,Bolton,2,2,D,2,2,D,M Riley,"
    "3,13,1,7,14,16,7,8,0,2,0,0,2.3,3.2,3.1,2.35,3.25,3.2,"
    "37,2.55,2.31,3.4,3.2,3.35,3.04,36,2.2,2.01,1.9,1.78,"
    "20,-0.25,1.98,1.92,2.02,1.95,2.4,3.3,3.0"
)
NEW_HEADER = (
    "Div,Date,Time,HomeTeam,AwayTeam,FTHG,FTAG,FTR,HTHG,HTAG,HTR,Referee,"
    "HS,AS,HST,AST,HF,AF,HC,AC,HY,AY,HR,AR,B365H,B365D,B365A,PSH,PSD,PSA,"
    "MaxH,MaxD,MaxA,AvgH,AvgD,AvgA,B365>2.5,B365<2.5,P>2.5,P<2.5,Max>2.5,Max<2.5,"
    "Avg>2.5,Avg<2.5,AHh,B365AHH,B365AHA,PAHH,PAHA,MaxAHH,MaxAHA,AvgAHH,AvgAHA,"
    "B365CH,B365CD,B365CA,PSCH,PSCD,PSCA,MaxCH,MaxCD,MaxCA,AvgCH,AvgCD,AvgCA,"
    "B365C>2.5,B365C<2.5,PC>2.5,PC<2.5,MaxC>2.5,MaxC<2.5,AvgC>2.5,AvgC<2.5,"
    "AHCh,B365CAHH,B365CAHA,PCAHH,PCAHA,MaxCAHH,MaxCAHA,AvgCAHH,AvgCAHA"
)
NEW_ROW = (
    "E0,09/08/2019,20:00,Liverpool,Norwich,4,1,H,4,0,H,M Oliver,"
    "15,12,7,5,9,9,11,2,0,2,0,0,1.14,10,19,1.14,9.81,23.48,"
    "1.16,10.5,23.5,1.14,9.5,19.6,1.4,3,1.4,3.11,1.43,3.11,"
    "1.39,2.97,-2.25,1.96,1.94,1.99,1.94,2,1.96,1.95,1.92,"
    "1.14,9.5,21,1.15,9.8,22.5,1.16,10.5,26,1.14,9.4,20.8,"
    "1.3,3.5,1.34,3.55,1.36,3.6,1.33,3.4,"
    "-2.5,1.95,1.95,1.97,1.95,2.02,1.97,1.96,1.92"
)


def write(tmp_path: Path, text: str | bytes, name: str = "E0_test.csv") -> Path:
    path = tmp_path / name
    if isinstance(text, str):
        path.write_bytes(text.encode("utf-8"))
    else:
        path.write_bytes(text)
    return path


def parse(tmp_path: Path, text: str | bytes, name: str = "E0_test.csv") -> ParsedFile:
    return parse_file(write(tmp_path, text, name))


def value(row: MatchRow, column: str) -> object:
    return row.values[FIXTURE_VALUE_COLUMNS.index(column)]


def odds(row: MatchRow, column: str) -> float | None:
    return row.odds[ODDS_VALUE_COLUMNS.index(column)]


def minimal(rows: list[str], header: str = "Div,Date,HomeTeam,AwayTeam,FTHG,FTAG,FTR") -> str:
    return "\r\n".join([header, *rows]) + "\r\n"


# --- layouts -----------------------------------------------------------------


def test_old_betbrain_layout_maps_bb_aggregates_to_avg_and_max(tmp_path: Path) -> None:
    parsed = parse(tmp_path, f"{OLD_HEADER}\r\n{OLD_ROW}\r\n")
    assert (parsed.division, parsed.season, parsed.bad_rows, parsed.warnings) == (
        "E0",
        "2005-06",
        [],
        [],
    )
    [row] = parsed.rows
    assert (row.line, row.kickoff_date, row.home_team, row.away_team) == (
        2,
        dt.date(2005, 8, 13),
        "Aston Villa",
        "Bolton",
    )
    assert value(row, "kickoff_time") is None
    assert (value(row, "home_goals"), value(row, "away_goals"), value(row, "result")) == (2, 2, "D")
    assert value(row, "referee") == "M Riley"
    assert value(row, "home_shots") == 3
    assert value(row, "away_corners") == 8
    assert value(row, "away_yellow_cards") == 2
    assert odds(row, "b365_home") == 2.3
    assert odds(row, "pinnacle_away") == 3.2
    assert odds(row, "max_home") == 2.55
    assert odds(row, "avg_home") == 2.31
    assert odds(row, "max_over25") == 2.2
    assert odds(row, "avg_under25") == 1.78
    assert odds(row, "ah_line") == -0.25
    assert odds(row, "max_ah_home") == 1.98
    assert odds(row, "avg_ah_away") == 1.95
    assert odds(row, "pinnacle_close_home") == 2.4
    # Columns the file does not have stay missing.
    assert odds(row, "b365_close_home") is None
    assert odds(row, "ah_line_close") is None
    assert odds(row, "b365_over25") is None


def test_new_layout_maps_max_avg_and_the_closing_block(tmp_path: Path) -> None:
    parsed = parse(tmp_path, f"{NEW_HEADER}\n{NEW_ROW}\n")
    [row] = parsed.rows
    assert parsed.season == "2019-20"
    assert value(row, "kickoff_time") == dt.time(20, 0)
    assert (value(row, "half_time_home_goals"), value(row, "half_time_result")) == (4, "H")
    expected = {
        "b365_home": 1.14,
        "pinnacle_draw": 9.81,
        "max_away": 23.5,
        "avg_home": 1.14,
        "b365_over25": 1.4,
        "pinnacle_under25": 3.11,
        "max_over25": 1.43,
        "avg_under25": 2.97,
        "ah_line": -2.25,
        "b365_ah_home": 1.96,
        "pinnacle_ah_away": 1.94,
        "max_ah_home": 2.0,
        "avg_ah_away": 1.92,
        "b365_close_home": 1.14,
        "pinnacle_close_away": 22.5,
        "max_close_draw": 10.5,
        "avg_close_away": 20.8,
        "b365_close_over25": 1.3,
        "pinnacle_close_under25": 3.55,
        "max_close_over25": 1.36,
        "avg_close_under25": 3.4,
        "ah_line_close": -2.5,
        "b365_close_ah_away": 1.95,
        "pinnacle_close_ah_home": 1.97,
        "max_close_ah_away": 1.97,
        "avg_close_ah_away": 1.92,
    }
    assert {column: odds(row, column) for column in expected} == expected
    assert all(price is not None for price in row.odds)


def test_pinnacle_falls_back_to_ph_columns_only_when_ps_is_absent(tmp_path: Path) -> None:
    only_p = parse(tmp_path, minimal(["E0,13/08/05,A,B,1,0,H,2.1,3.3,3.6"], _h("PH,PD,PA")))
    assert odds(only_p.rows[0], "pinnacle_home") == 2.1
    both = parse(tmp_path, minimal(["E0,13/08/05,A,B,1,0,H,2.1,2.2,3.3,3.6"], _h("PH,PSH,PD,PA")))
    assert odds(both.rows[0], "pinnacle_home") == 2.2
    assert odds(both.rows[0], "pinnacle_draw") == 3.3


def test_2003_layout_takes_the_ah_line_from_bet365s_own_handicap(tmp_path: Path) -> None:
    parsed = parse(
        tmp_path, minimal(["E0,16/08/03,A,B,1,0,H,1.8,2.1,-0.75"], _h("B365AHH,B365AHA,B365AH"))
    )
    row = parsed.rows[0]
    assert (odds(row, "ah_line"), odds(row, "b365_ah_home"), odds(row, "b365_ah_away")) == (
        -0.75,
        1.8,
        2.1,
    )


def _h(extra: str) -> str:
    return f"Div,Date,HomeTeam,AwayTeam,FTHG,FTAG,FTR,{extra}"


# --- dates, seasons, times ---------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("13/08/05", dt.date(2005, 8, 13)),
        ("07/08/99", dt.date(1999, 8, 7)),
        ("09/08/2019", dt.date(2019, 8, 9)),
        ("1/2/03", dt.date(2003, 2, 1)),
        ("2026-1-1", None),
        ("1930-3-1", None),
        ("31/02/2019", None),
        ("13/8/205", None),
        ("", None),
        ("aa/bb/cc", None),
    ],
)
def test_dates_parse_as_dd_mm_yy_or_dd_mm_yyyy_only(text: str, expected: dt.date | None) -> None:
    assert parse_date(text) == expected


def test_season_is_labelled_from_the_first_date_and_runs_july_to_august() -> None:
    assert season_window(dt.date(2019, 8, 9)) == (
        "2019-20",
        dt.date(2019, 7, 1),
        dt.date(2020, 8, 31),
    )
    assert season_window(dt.date(2000, 1, 20))[0] == "1999-00"
    assert season_window(dt.date(1999, 8, 7))[0] == "1999-00"


def test_a_season_may_run_into_july_and_august_but_not_september(tmp_path: Path) -> None:
    parsed = parse(
        tmp_path,
        minimal(
            [
                "E0,09/08/2019,A,B,1,0,H",
                "E0,26/07/2020,C,D,0,0,D",
                "E0,31/08/2020,E,F,0,1,A",
                "E0,01/09/2020,G,H,2,1,H",
                "E0,30/06/2019,I,J,2,1,H",
            ]
        ),
    )
    assert [r.line for r in parsed.rows] == [2, 3, 4]
    assert [(b.line, b.reason) for b in parsed.bad_rows] == [
        (5, "Date: 01/09/2020: outside season 2019-20 (2019-07-01 to 2020-08-31)"),
        (6, "Date: 30/06/2019: outside season 2019-20 (2019-07-01 to 2020-08-31)"),
    ]


def test_the_season_comes_from_the_first_valid_date_not_a_broken_first_row(
    tmp_path: Path,
) -> None:
    parsed = parse(tmp_path, minimal(["E0,2026-1-1,A,B,1,0,H", "E0,12/08/00,C,D,1,1,D"]))
    assert parsed.season == "2000-01"
    assert [b.line for b in parsed.bad_rows] == [2]
    assert [r.line for r in parsed.rows] == [3]


def test_kickoff_time_is_read_when_present_and_a_bad_one_is_a_warning(tmp_path: Path) -> None:
    parsed = parse(
        tmp_path,
        minimal(
            ["E0,09/08/2019,12:30,A,B,1,0,H", "E0,10/08/2019,25:99,C,D,1,0,H"],
            "Div,Date,Time,HomeTeam,AwayTeam,FTHG,FTAG,FTR",
        ),
    )
    assert [value(r, "kickoff_time") for r in parsed.rows] == [dt.time(12, 30), None]
    assert parsed.warnings == ["E0_test.csv:3: Time: 25:99: not a HH:MM time"]


# --- encodings, line endings, ragged rows --------------------------------------


def test_utf8_bom_and_stray_header_whitespace_are_ignored(tmp_path: Path) -> None:
    text = "\ufeffDiv , Date,HomeTeam ,AwayTeam,FTHG,FTAG,FTR\r\nE0,09/08/2019,A,B,1,0,H\r\n"
    parsed = parse(tmp_path, text)
    assert [(r.home_team, r.away_team) for r in parsed.rows] == [("A", "B")]


def test_invalid_utf8_falls_back_to_cp1252_and_cleans_non_breaking_spaces(
    tmp_path: Path,
) -> None:
    raw = (
        b"Div,Date,HomeTeam,AwayTeam,FTHG,FTAG,FTR,Referee\r\n"
        b"E0,14/05/05,A,B,1,0,H,\xa0U Rennie\r\n"
    )
    [row] = parse(tmp_path, raw).rows
    assert value(row, "referee") == "U Rennie"
    with_bom = b"\xef\xbb\xbf" + raw.replace(b"U Rennie", b"J\xe9r\xf4me")
    [row] = parse(tmp_path, with_bom).rows
    assert value(row, "referee") == "J\u00e9r\u00f4me"


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r\r\n"])
def test_line_endings_do_not_change_rows_or_physical_line_numbers(
    tmp_path: Path, newline: str
) -> None:
    lines = ["Div,Date,HomeTeam,AwayTeam,FTHG,FTAG,FTR", "E0,09/08/19,A,B,1,0,H", ",,,,,,"]
    lines += ["E0,10/08/19,C,D,x,0,H", "E0,11/08/19,E,F,0,0,D"]
    parsed = parse(tmp_path, newline.join(lines) + newline)
    assert [r.line for r in parsed.rows] == [2, 5]
    assert [(b.line, b.reason) for b in parsed.bad_rows] == [(4, "FTHG: x: not a number of goals")]


def test_lines_of_only_commas_are_skipped_not_counted(tmp_path: Path) -> None:
    parsed = parse(
        tmp_path,
        minimal(["E0,07/08/99,A,B,2,1,H", ",,,,,,", " , ,,,,,", "", "E0,08/08/99,C,D,0,0,D"]),
    )
    assert parsed.data_rows == 2
    assert [r.line for r in parsed.rows] == [2, 6]
    assert parsed.bad_rows == []


def test_short_rows_are_padded_with_blank_cells(tmp_path: Path) -> None:
    parsed = parse(tmp_path, minimal(["E0,09/08/19,A,B,1,0"], _h("B365H,B365D,B365A")))
    [row] = parsed.rows
    assert value(row, "result") == "H"  # derived, since FTR is among the missing cells
    assert odds(row, "b365_home") is None
    assert parsed.bad_rows == []


def test_rows_longer_than_the_header_need_their_extra_cells_empty(tmp_path: Path) -> None:
    parsed = parse(
        tmp_path,
        minimal(["E0,09/08/19,A,B,1,0,H,,, ", "E0,10/08/19,C,D,1,0,H,,2.5,"]),
    )
    assert [r.line for r in parsed.rows] == [2]
    [bad] = parsed.bad_rows
    assert bad.line == 3
    assert "3 cells beyond the header's 7 columns" in bad.reason
    assert "'2.5'" in bad.reason


def test_unnamed_trailing_header_columns_are_allowed_when_empty(tmp_path: Path) -> None:
    parsed = parse(
        tmp_path,
        minimal(
            ["E0,20/08/10,A,B,2,0,H,,,", "E0,21/08/10,C,D,2,0,H,,x,"],
            "Div,Date,HomeTeam,AwayTeam,FTHG,FTAG,FTR,,,",
        ),
    )
    assert [r.line for r in parsed.rows] == [2]
    assert [(b.line, b.reason) for b in parsed.bad_rows] == [
        (3, "column 9 has no header but holds 'x'")
    ]


def test_quoted_cells_may_hold_commas(tmp_path: Path) -> None:
    parsed = parse(
        tmp_path,
        minimal(['E0,22/12/01,Charlton,Blackburn,0,2,A,"Wiley, A. G. "'], _h("Referee")),
    )
    assert value(parsed.rows[0], "referee") == "Wiley, A. G."


def test_team_names_are_trimmed_so_one_team_is_one_name(tmp_path: Path) -> None:
    parsed = parse(tmp_path, minimal(["E0,06/08/10,Ajax ,  Willem  II,1,0,H"]))
    assert (parsed.rows[0].home_team, parsed.rows[0].away_team) == ("Ajax", "Willem II")


def test_team_columns_named_ht_and_at_are_accepted(tmp_path: Path) -> None:
    parsed = parse(tmp_path, minimal(["E0,06/08/10,A,B,1,0,H"], "Div,Date,HT,AT,FTHG,FTAG,FTR"))
    assert (parsed.rows[0].home_team, parsed.rows[0].away_team) == ("A", "B")


# --- bad cells: warning, stored as missing, row kept -------------------------


def test_odds_of_one_or_less_are_a_warning_and_missing(tmp_path: Path) -> None:
    parsed = parse(
        tmp_path,
        minimal(["E2,28/03/15,Sheffield United,Crewe,1,2,A,0,5.25,10"], _h("B365H,B365D,B365A")),
        name="E2_2014-15.csv",
    )
    [row] = parsed.rows
    assert (odds(row, "b365_home"), odds(row, "b365_draw")) == (None, 5.25)
    assert parsed.warnings == ["E2_2014-15.csv:2: B365H: 0: decimal odds must be greater than 1.0"]


@pytest.mark.parametrize(
    ("header", "cell", "reason"),
    [
        ("BbAv<2.5", "0.277", "decimal odds must be greater than 1.0"),
        ("BbAv<2.5", "1", "decimal odds must be greater than 1.0"),
        ("B365H", "abc", "not a number"),
        ("B365H", "nan", "decimal odds must be at most 1000"),
        ("B365H", "5000", "decimal odds must be at most 1000"),
        ("BbAHh", "-1.2", "handicap line must be a multiple of 0.25 within +-10"),
        ("BbAHh", "-225", "handicap line must be a multiple of 0.25 within +-10"),
        ("AHh", "x", "not a number"),
        ("HY", "1.2", "not a count"),
        ("HS", "-3", "not a count"),
        ("HTHG", "x", "not a number of goals"),
        ("HTHG", "3", "more half-time goals than full-time (1)"),
    ],
)
def test_bad_optional_cells_become_missing_with_a_warning(
    tmp_path: Path, header: str, cell: str, reason: str
) -> None:
    parsed = parse(tmp_path, minimal([f"E0,09/08/19,A,B,1,0,H,{cell}"], _h(header)))
    assert len(parsed.rows) == 1
    assert parsed.bad_rows == []
    assert parsed.warnings == [f"E0_test.csv:2: {header}: {cell}: {reason}"]
    row = parsed.rows[0]
    assert all(price is None for price in row.odds)
    assert value(row, "home_yellow_cards") is None
    assert value(row, "half_time_home_goals") is None


def test_good_ah_lines_and_stats_are_kept(tmp_path: Path) -> None:
    parsed = parse(tmp_path, minimal(["E0,09/08/19,A,B,1,0,H,-0.0,7,2.0"], _h("AHh,HS,AS")))
    row = parsed.rows[0]
    assert (odds(row, "ah_line"), value(row, "home_shots"), value(row, "away_shots")) == (0, 7, 2)
    assert parsed.warnings == []


def test_blank_odds_cells_are_missing_without_warnings(tmp_path: Path) -> None:
    parsed = parse(tmp_path, minimal(["E0,09/08/19,A,B,1,0,H,, ,"], _h("B365H,B365D,B365A")))
    assert all(price is None for price in parsed.rows[0].odds)
    assert parsed.warnings == []


def test_half_time_result_is_derived_when_blank_and_checked_when_given(tmp_path: Path) -> None:
    parsed = parse(
        tmp_path,
        minimal(
            [
                "E0,09/08/19,A,B,2,1,H,1,0,",
                "E0,10/08/19,C,D,2,1,H,1,1,H",
                "E0,11/08/19,E,F,2,1,H,,,A",
                "E0,12/08/19,G,H,2,1,H,0,0,Q",
            ],
            _h("HTHG,HTAG,HTR"),
        ),
    )
    assert [value(r, "half_time_result") for r in parsed.rows] == ["H", None, "A", None]
    assert parsed.warnings == [
        "E0_test.csv:3: HTR: H: disagrees with the half-time score 1-1",
        "E0_test.csv:5: HTR: Q: not H, D or A",
    ]


# --- bad rows ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (",09/08/19,A,B,1,0,H", "Div: missing"),
        ("E1,09/08/19,A,B,1,0,H", "Div: E1: differs from the file's division E0"),
        ("E0 X,09/08/19,A,B,1,0,H", "Div: E0 X: not a division code"),
        ("E0,,A,B,1,0,H", "Date: missing"),
        ("E0,2026-1-1,A,B,1,0,H", "Date: 2026-1-1: not a dd/mm/yy or dd/mm/yyyy date"),
        ("E0,09/08/19,,B,1,0,H", "HomeTeam: missing"),
        ("E0,09/08/19,A, ,1,0,H", "AwayTeam: missing"),
        ("E0,09/08/19,A,A,1,0,H", "HomeTeam and AwayTeam are both A"),
        ("E0,09/08/19,A,B,,0,H", "FTHG: missing"),
        ("E0,09/08/19,A,B,1,,H", "FTAG: missing"),
        ("E0,09/08/19,A,B,1,-2,H", "FTAG: -2: not a number of goals"),
        ("E0,09/08/19,A,B,1.5,0,H", "FTHG: 1.5: not a number of goals"),
        ("E0,09/08/19,A,B,2,1,A", "FTR: A: disagrees with the score 2-1 (expected H)"),
        ("E0,09/08/19,A,B,2,1,W", "FTR: W: not H, D or A"),
    ],
)
def test_bad_required_cells_make_a_bad_row_with_its_line(
    tmp_path: Path, row: str, reason: str
) -> None:
    parsed = parse(tmp_path, minimal(["E0,10/08/19,X,Y,0,0,D", row, "E0,11/08/19,Z,W,0,0,D"]))
    assert [(b.line, b.reason) for b in parsed.bad_rows] == [(3, reason)]
    assert [r.line for r in parsed.rows] == [2, 4]


def test_a_blank_ftr_is_derived_from_the_score(tmp_path: Path) -> None:
    parsed = parse(tmp_path, minimal(["E0,09/08/19,A,B,0,3,", "E0,10/08/19,C,D,1,1,"]))
    assert [value(r, "result") for r in parsed.rows] == ["A", "D"]


def test_the_same_match_twice_in_a_file_is_a_bad_row(tmp_path: Path) -> None:
    parsed = parse(tmp_path, minimal(["E0,09/08/19,A,B,1,0,H", "E0,09/08/19,A,B,1,0,H"]))
    assert [(b.line, b.reason) for b in parsed.bad_rows] == [
        (3, "same match as line 2 (A v B on 2019-08-09)")
    ]


def test_the_division_is_the_files_most_common_code(tmp_path: Path) -> None:
    parsed = parse(
        tmp_path,
        minimal(["E1,09/08/19,A,B,1,0,H", "E0,10/08/19,C,D,1,0,H", "E0,11/08/19,E,F,0,0,D"]),
    )
    assert parsed.division == "E0"
    assert [b.line for b in parsed.bad_rows] == [2]


# --- not football-data at all ------------------------------------------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty file"),
        (b"  \r\n\r\n", "empty file"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10", "binary data"),
        (
            b"open_time,open,high,low,close,volume\n1677628800000,23141.57,23200,23100,23101,1\n",
            "header has none of Div, Date, HomeTeam, AwayTeam, FTHG, FTAG",
        ),
        (b"Div,Date,HomeTeam,AwayTeam,FTHG\nE0,09/08/19,A,B,1\n", "header lacks FTAG"),
        (b"Div,HomeTeam,AwayTeam\nE0,A,B\n", "header lacks Date)"),
        (
            b"<!DOCTYPE HTML PUBLIC>\n<html><head><title>404 Not Found</title></head></html>\n",
            'a web page ("404 Not Found"), not a football-data CSV',
        ),
        (b",,,,\nE0,09/08/19,A,B,1\n", "no header on line 1"),
    ],
)
def test_files_that_are_not_football_data_are_refused_with_one_line(
    tmp_path: Path, content: bytes, message: str
) -> None:
    with pytest.raises(ImportFileError) as caught:
        parse(tmp_path, content, name="odd.csv")
    text = str(caught.value)
    assert text.startswith("odd.csv: ")
    assert message in text
    assert "\n" not in text


def test_a_missing_file_is_an_import_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ImportFileError, match=r"nope\.csv: no such file"):
        parse_file(tmp_path / "nope.csv")


# --- leagues -------------------------------------------------------------------


CORPUS_DIVISIONS = {"D1", "E0", "E1", "E2", "E3", "EC", "F1", "I1", "N1", "SP1"}


def test_the_corpus_divisions_and_the_common_others_are_known() -> None:
    others = {"SC0", "SC1", "SC2", "SC3", "D2", "I2", "SP2", "F2", "B1", "P1", "T1", "G1"}
    for code in CORPUS_DIVISIONS | others:
        league = known_league(code)
        assert league is not None, code
        assert league.country != UNKNOWN_COUNTRY
    assert LEAGUES["E0"].name == "Premier League"
    assert (LEAGUES["SP1"].name, LEAGUES["SP1"].country) == ("La Liga", "Spain")


def test_every_division_code_in_the_corpus_is_known(corpus_dir: Path) -> None:
    in_corpus = {path.name.split("_")[0] for path in corpus_dir.glob("*.csv")}
    assert in_corpus >= CORPUS_DIVISIONS
    unknown = {code for code in in_corpus if known_league(code) is None}
    assert unknown == set()


def test_an_unknown_division_code_becomes_a_league_named_after_it() -> None:
    assert known_league("X9") is None
    league = league_for_code("X9")
    assert (league.code, league.name, league.country) == ("X9", "X9", UNKNOWN_COUNTRY)


# --- the real files' quirks ----------------------------------------------------


def test_real_files_known_bad_cells_are_warnings_with_their_lines() -> None:
    e2 = parse_file(real_file("football/E2_2014-15.csv"))
    assert "E2_2014-15.csv:461: B365H: 0: decimal odds must be greater than 1.0" in e2.warnings
    assert len(e2.rows) == 552
    sp1 = parse_file(real_file("football/SP1_2013-14.csv"))
    assert "SP1_2013-14.csv:224: BbAv<2.5: 0.277: decimal odds must be greater than 1.0" in (
        sp1.warnings
    )


def test_real_cp1252_file_and_cr_cr_lf_file_parse_completely() -> None:
    e0 = parse_file(real_file("football/E0_2004-05.csv"))
    assert (len(e0.rows), e0.bad_rows) == (380, [])
    assert value(e0.rows[335], "referee") == "U Rennie"  # line 337, after a cp1252 NBSP
    f1 = parse_file(real_file("football/F1_2019-20.csv"))
    assert (len(f1.rows), f1.rows[0].line, f1.rows[-1].line) == (279, 2, 280)
    assert value(f1.rows[0], "kickoff_time") == dt.time(19, 45)


def test_real_file_padded_with_comma_lines_keeps_its_380_matches() -> None:
    parsed = parse_file(real_file("football/E0_1999-00.csv"))
    assert (len(parsed.rows), parsed.bad_rows, parsed.season) == (380, [], "1999-00")
    assert all(price is None for price in parsed.rows[0].odds)


def test_corrupt_real_files_have_their_bad_lines_named() -> None:
    d1 = parse_file(real_file("football-corrupt/D1_2000-01.csv"))
    assert len(d1.rows) == 162
    assert [b.line for b in d1.bad_rows] == list(range(164, 308))
    assert d1.bad_rows[0].reason == "Date: 2026-1-1: not a dd/mm/yy or dd/mm/yyyy date"
    whole = parse_file(real_file("football-corrupt/D1_2001-02.csv"))
    assert (len(whole.rows), len(whole.bad_rows), whole.season) == (0, 306, None)
