"""Importing football-data.co.uk season files.

`football_data` parses and validates (no database); `service` writes to the
database; `leagues` maps division codes to leagues.
"""
