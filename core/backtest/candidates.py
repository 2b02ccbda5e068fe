"""Which fixtures a run considers: the request's scope and the rules, over the frame.

A candidate is a fixture with a result, in the request's leagues, seasons and dates, that
the rules match. Fixtures not yet played are never candidates (the scanner looks at those).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
from numpy.typing import NDArray

from core.backtest.request import BacktestRequest
from core.frame import AnalysisFrame
from core.rules.mask import LeafMask, rule_mask
from core.rules.validate import Node

Bools = NDArray[np.bool_]
Ints = NDArray[np.int64]
_EPOCH = dt.date(1970, 1, 1)


def scope_mask(frame: AnalysisFrame, request: BacktestRequest) -> Bools:
    """Fixtures with a result in the request's leagues, seasons and date range."""
    mask = frame.settled.copy()
    if request.leagues:
        wanted = set(request.leagues)
        ids = [i for i, code in frame.league_codes.items() if code in wanted]
        mask &= np.isin(frame.league, ids)
    if request.seasons:
        wanted = set(request.seasons)
        codes = [i for i, label in enumerate(frame.season_labels) if label in wanted]
        mask &= np.isin(frame.season, codes)
    if request.date_from:
        mask &= frame.day >= (request.date_from - _EPOCH).days
    if request.date_to:
        mask &= frame.day <= (request.date_to - _EPOCH).days
    return mask


def candidate_mask(
    frame: AnalysisFrame, node: Node, request: BacktestRequest, leaf: LeafMask | None = None
) -> Bools:
    mask = rule_mask(node, frame, leaf)
    return scope_mask(frame, request) & mask


def candidate_rows(frame: AnalysisFrame, node: Node, request: BacktestRequest) -> Ints:
    """Frame rows of the candidates, in settlement order."""
    return np.flatnonzero(candidate_mask(frame, node, request))
