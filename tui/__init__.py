"""The FilterBets terminal dashboard (Textual). It talks to the database only through core/."""
