"""football-data.co.uk division codes and the leagues they stand for."""

from __future__ import annotations

from dataclasses import dataclass

UNKNOWN_COUNTRY = "Unknown"


@dataclass(frozen=True)
class LeagueInfo:
    code: str
    name: str
    country: str


# Current names; football-data keeps a code when a league is renamed (E1 was
# "Division 1" before 2004), so one name per code is what a user searches for.
# ASCII only, so names line up in any terminal.
_LEAGUES = (
    LeagueInfo("E0", "Premier League", "England"),
    LeagueInfo("E1", "Championship", "England"),
    LeagueInfo("E2", "League One", "England"),
    LeagueInfo("E3", "League Two", "England"),
    LeagueInfo("EC", "National League", "England"),
    LeagueInfo("SC0", "Premiership", "Scotland"),
    LeagueInfo("SC1", "Championship", "Scotland"),
    LeagueInfo("SC2", "League One", "Scotland"),
    LeagueInfo("SC3", "League Two", "Scotland"),
    LeagueInfo("D1", "Bundesliga", "Germany"),
    LeagueInfo("D2", "2. Bundesliga", "Germany"),
    LeagueInfo("I1", "Serie A", "Italy"),
    LeagueInfo("I2", "Serie B", "Italy"),
    LeagueInfo("SP1", "La Liga", "Spain"),
    LeagueInfo("SP2", "Segunda Division", "Spain"),
    LeagueInfo("F1", "Ligue 1", "France"),
    LeagueInfo("F2", "Ligue 2", "France"),
    LeagueInfo("N1", "Eredivisie", "Netherlands"),
    LeagueInfo("B1", "First Division A", "Belgium"),
    LeagueInfo("P1", "Primeira Liga", "Portugal"),
    LeagueInfo("T1", "Super Lig", "Turkey"),
    LeagueInfo("G1", "Super League", "Greece"),
)

LEAGUES: dict[str, LeagueInfo] = {league.code: league for league in _LEAGUES}


def known_league(code: str) -> LeagueInfo | None:
    """The league for a division code, or None when football-data's code is not one we know."""
    return LEAGUES.get(code)


def league_for_code(code: str) -> LeagueInfo:
    """The league for a code; an unknown code becomes a league named after itself."""
    return LEAGUES.get(code) or LeagueInfo(code, code, UNKNOWN_COUNTRY)
