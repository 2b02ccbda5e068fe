"""Where a run's prices come from: one book (`b365`, `pinnacle`, `wh`, the exchange `bfe`,
... and `<book>_close` for its closing prices), or the best price among books the user holds
accounts with (`best:b365,wh,pinnacle`, `best_close:...` at closing).

The best price of a fixture is the highest among the listed books that price it; the run
records the price taken, not which book gave it. An exchange's winnings pay its commission
(`BacktestRequest.commission`, 5% unless given), so the exchange is bet on its own, not as
one of a best-of list whose prices are not comparable before commission.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Final

from core.errors import UsageMistake
from core.models import BOOKS, ODDS_SOURCES, odds_column_name

__all__ = [
    "DEFAULT_EXCHANGE_COMMISSION",
    "PriceSource",
    "SourceError",
    "parse_source",
    "source_columns",
]

BEST: Final = "best:"
BEST_CLOSE: Final = "best_close:"
DEFAULT_EXCHANGE_COMMISSION: Final = Decimal("0.05")
_BOOK_NAMES: Final = (*ODDS_SOURCES, *(book.code for book in BOOKS))
_EXCHANGES: Final = frozenset(book.code for book in BOOKS if book.exchange)


class SourceError(UsageMistake):
    """An odds source that does not exist, or a best-of list that cannot be bet."""


@dataclass(frozen=True)
class PriceSource:
    name: str
    books: tuple[str, ...]
    closing: bool

    @property
    def best_of(self) -> bool:
        return self.name.startswith((BEST, BEST_CLOSE))

    @property
    def exchange(self) -> bool:
        """The prices are an exchange's: winnings pay its commission."""
        return any(book in _EXCHANGES for book in self.books)

    @property
    def timing(self) -> str:
        return "_close" if self.closing else ""

    def columns(self, selection: str) -> list[str]:
        """The frame columns holding this source's price of a selection."""
        return [odds_column_name(book + self.timing, selection) for book in self.books]


def _near(word: str, choices: tuple[str, ...]) -> str:
    import difflib

    close = difflib.get_close_matches(word, choices, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


@cache
def parse_source(name: str) -> PriceSource:
    """The source a name stands for; SourceError names the part that is wrong."""
    for prefix, closing in ((BEST_CLOSE, True), (BEST, False)):
        if name.startswith(prefix):
            books = tuple(dict.fromkeys(b.strip() for b in name[len(prefix) :].split(",")))
            books = tuple(book for book in books if book)
            if len(books) < 2:
                raise SourceError(f"odds: {name!r}: a best-of list names at least two books")
            for book in books:
                if book not in _BOOK_NAMES:
                    raise SourceError(
                        f"odds: {name!r}: no book {book!r}{_near(book, _BOOK_NAMES)};"
                        f" books are {', '.join(_BOOK_NAMES)}"
                    )
                if book in _EXCHANGES:
                    raise SourceError(
                        f"odds: {name!r}: bet the exchange {book!r} on its own (its winnings"
                        " pay commission, so its prices do not compare with a book's)"
                    )
            return PriceSource(f"{prefix}{','.join(books)}", books, closing)
    book = name.removesuffix("_close")
    if book not in _BOOK_NAMES:
        known = tuple(b + t for t in ("", "_close") for b in _BOOK_NAMES)
        raise SourceError(
            f"odds: unknown source {name!r}{_near(name, known)}; choose a book"
            f" ({', '.join(_BOOK_NAMES)}), its closing prices (<book>_close), or"
            " best:BOOK,BOOK,... for the best price among books you hold"
        )
    return PriceSource(name, (book,), book != name)


def source_columns(name: str, selection: str) -> list[str]:
    return parse_source(name).columns(selection)
