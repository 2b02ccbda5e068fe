"""Importing football-data.co.uk files: season files and upcoming fixtures.

`football_data` parses and validates (no database); `service` writes to the
database; `leagues` maps division codes to leagues; `teams` keeps team name aliases;
`removal` deletes a league-season or what an import added.
"""
