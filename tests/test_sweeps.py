"""Sweeps on both backends: each variant equals the backtest with its parameters written in,
grids and templates are checked before any work, the luck report follows its definitions on
data small enough to follow by eye, and the sweep is stored as one result."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from core.backtest.engine import BacktestEngine
from core.backtest.grid import GridError, parse_grid
from core.backtest.request import BacktestRequest
from core.backtest.sweep import bind_rules
from core.backtest.sweeps import SweepEngine, SweepRequest
from core.backtest.trials import filter_trials
from core.filters import FilterStore
from core.models import BacktestResult, SweepVariant
from core.results import ResultStore
from core.services import FilterBetsService
from tests.factories import add_fixtures, random_fixture_specs

SUMMARY_KEYS = (
    "bets",
    "wins",
    "profit",
    "staked",
    "yield",
    "max_drawdown",
    "longest_losing_run",
    "t_stat",
    "p_value",
)
BAND = [
    {"field": "league", "op": "in", "value": [{"param": "league"}, "N1"]},
    {"field": "odds.pinnacle.home", "op": "between", "value": [{"param": "lo"}, {"param": "hi"}]},
]


def _sweep(rules: Any, grid: dict[str, Any], market: str = "home", **options: Any) -> SweepRequest:
    stake = options.pop("stake", None)
    backtest = BacktestRequest(market=market, rules=rules, stake=stake)
    return SweepRequest(backtest=backtest, grid=grid, **options)


# -- the grid ---------------------------------------------------------------------------


def test_a_range_reaches_its_end_without_float_drift() -> None:
    grid = parse_grid({"lo": {"from": 1.5, "to": 3.0, "step": 0.1}})
    assert grid.values[0][-1] == 3.0 and len(grid.values[0]) == 16
    assert grid.values[0][:3] == (1.5, 1.6, 1.7)
    assert parse_grid({"n": {"from": 5, "to": 50, "step": 5}}).values[0] == tuple(range(5, 51, 5))


def test_grid_order_varies_the_last_parameter_fastest() -> None:
    grid = parse_grid({"a": [1, 2], "b": ["x", "y", "z"]})
    assert grid.size == 6
    assert list(grid) == [
        {"a": 1, "b": "x"},
        {"a": 1, "b": "y"},
        {"a": 1, "b": "z"},
        {"a": 2, "b": "x"},
        {"a": 2, "b": "y"},
        {"a": 2, "b": "z"},
    ]


@pytest.mark.parametrize(
    ("grid", "message"),
    [
        ({"lo": []}, "parameter 'lo' has an empty list"),
        ({"lo": {"from": 1, "to": 2, "step": 0}}, "parameter 'lo': range step must be above 0"),
        ({"lo": {"from": 1, "to": 2, "step": -1}}, "parameter 'lo': range step must be above 0"),
        ({"lo": {"from": 1, "to": 2}}, "parameter 'lo': a range is"),
        ({"lo": "1.5"}, "parameter 'lo' takes a list of values or a range"),
        ({"a": list(range(1000)), "b": list(range(1001))}, "more than 1,000,000 variants"),
        ([1, 2], "grid: expected an object"),
    ],
)
def test_a_bad_grid_is_one_line_naming_the_parameter(grid: Any, message: str) -> None:
    with pytest.raises(GridError, match=message) as error:
        parse_grid(grid)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("rules", "grid", "message"),
    [
        (
            BAND,
            {"lo": [1.5], "hi": [2.0]},
            "parameter 'league' is in the rules but not in the grid",
        ),
        (
            BAND,
            {"lo": [1.5], "hi": [2.0], "league": ["E0"], "extra": [1]},
            "parameter 'extra' is not used by the rules",
        ),
        (
            BAND,
            {"lo": ["cheap"], "hi": [2.0], "league": ["E0"]},
            "parameter 'lo': field 'odds.pinnacle.home' takes a number",
        ),
        (
            BAND,
            {"lo": [1.5], "hi": [2.0], "league": [7]},
            "parameter 'league': field 'league' takes a string",
        ),
    ],
)
async def test_a_template_and_grid_that_do_not_fit_fail_before_any_work(
    service: FilterBetsService, rules: Any, grid: Any, message: str
) -> None:
    with pytest.raises(GridError, match=message):
        await SweepEngine(service.db, service.user_id).run(_sweep(rules, grid))
    async with service.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(BacktestResult)) == 0


async def test_parameters_outside_a_sweep_are_refused(service: FilterBetsService) -> None:
    from core.errors import RuleError

    with pytest.raises(RuleError, match="only belongs in a sweep"):
        await BacktestEngine(service.db, service.user_id).run(
            BacktestRequest(market="home", rules=BAND)
        )


# -- each variant is a backtest -----------------------------------------------------------


async def _compare_with_backtests(
    service: FilterBetsService, request: SweepRequest
) -> dict[str, Any]:
    run = await SweepEngine(service.db, service.user_id).run(request, store=False)
    engine = BacktestEngine(service.db, service.user_id)
    assert [v["params"] for v in run.report["variants"]] == list(parse_grid(request.grid))
    for variant in run.report["variants"]:
        rules = bind_rules(request.backtest.rules, variant["params"])
        if _reversed_between(rules):
            # A backtest refuses lo > hi, where the sweep's leaf matches nothing: compare
            # with the same rules spelled as >= lo and <= hi, which a backtest takes.
            rules = _between_as_bounds(rules)
        single = await engine.run(
            BacktestRequest(
                market=request.backtest.market,
                rules=rules,
                odds_source=request.backtest.odds_source,
                leagues=request.backtest.leagues,
                stake=request.backtest.stake,
            ),
            store=False,
        )
        for key in SUMMARY_KEYS:
            assert variant[key] == single.metrics[key], (key, variant["params"])
    return run.report


def _reversed_between(rules: Any) -> bool:
    if isinstance(rules, dict):
        if rules.get("op") == "between" and isinstance(rules.get("value"), list):
            low, high = rules["value"]
            return bool(low > high)
        return any(_reversed_between(value) for value in rules.values())
    if isinstance(rules, list):
        return any(_reversed_between(item) for item in rules)
    return False


def _between_as_bounds(rules: Any) -> Any:
    if isinstance(rules, dict):
        if rules.get("op") == "between":
            low, high = rules["value"]
            field = rules["field"]
            return {
                "all": [
                    {"field": field, "op": ">=", "value": low},
                    {"field": field, "op": "<=", "value": high},
                ]
            }
        return {key: _between_as_bounds(value) for key, value in rules.items()}
    if isinstance(rules, list):
        return [_between_as_bounds(item) for item in rules]
    return rules


async def test_every_variant_equals_its_backtest(service: FilterBetsService) -> None:
    await add_fixtures(service, random_fixture_specs(160, seed=21))
    grid = {"league": ["E0", "SP1", "D1"], "lo": [1.2, 1.9, 2.6], "hi": [2.5, 1.5, 9.0]}
    report = await _compare_with_backtests(service, _sweep(BAND, grid, stake="2.50"))
    assert report["trials"] == 27
    lo_above_hi = [v for v in report["variants"] if v["params"]["lo"] > v["params"]["hi"]]
    assert lo_above_hi and all(v["bets"] == 0 and v["yield"] is None for v in lo_above_hi)
    assert all(v["t_stat"] is None and v["q_value"] is None for v in lo_above_hi)
    assert any(v["bets"] > 5 for v in report["variants"])  # not vacuous


PARAM_FIELDS = {
    "odds.pinnacle.draw": st.floats(1.5, 6.0).map(lambda x: round(x, 2)),
    "fav_odds.b365": st.floats(1.1, 3.0).map(lambda x: round(x, 2)),
    "home.ppg": st.floats(0.0, 3.0).map(lambda x: round(x, 1)),
    "month": st.integers(1, 12),
}


@st.composite
def _random_sweep(draw: st.DrawFn) -> tuple[Any, dict[str, Any], str]:
    """A template with one or two parameterized leaves (some under `any` or `not`), a
    static leaf, and a grid of up to 12 variants."""
    names = draw(
        st.lists(st.sampled_from(sorted(PARAM_FIELDS)), min_size=1, max_size=2, unique=True)
    )
    grid: dict[str, Any] = {}
    leaves = []
    for i, name in enumerate(names):
        op = draw(st.sampled_from([">", "<=", "between", "!="]))
        values = draw(st.lists(PARAM_FIELDS[name], min_size=1, max_size=3))
        if op == "between":
            grid[f"lo{i}"] = values
            grid[f"hi{i}"] = draw(st.lists(PARAM_FIELDS[name], min_size=1, max_size=2))
            value: Any = [{"param": f"lo{i}"}, {"param": f"hi{i}"}]
        else:
            grid[f"p{i}"] = values
            value = {"param": f"p{i}"}
        leaves.append({"field": name, "op": op, "value": value})
    static = {"field": "odds.pinnacle.home", "op": "not_null"}
    shape = draw(st.sampled_from(["all", "any", "not"]))
    if shape == "any":
        rules: Any = {"any": leaves} if len(leaves) > 1 else [static, leaves[0]]
    elif shape == "not":
        rules = [static, {"not": leaves[0]}, *leaves[1:]]
    else:
        rules = [static, *leaves]
    return rules, grid, draw(st.sampled_from(["home", "draw", "over25", "ah_away"]))


async def test_random_sweeps_equal_their_backtests(service: FilterBetsService) -> None:
    await add_fixtures(service, random_fixture_specs(120, seed=5))
    loop = asyncio.get_running_loop()

    @settings(
        max_examples=12,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(_random_sweep())
    def holds(case: tuple[Any, dict[str, Any], str]) -> None:
        rules, grid, market = case
        request = _sweep(rules, grid, market=market)
        asyncio.run_coroutine_threadsafe(_compare_with_backtests(service, request), loop).result(
            timeout=120
        )

    await asyncio.to_thread(holds)


# -- the luck report on data small enough to follow ---------------------------------------


def _fixture(season: str, day: int, home_price: float, goals: tuple[int, int]) -> dict[str, Any]:
    year = int(season[:4])
    return {
        "league": "E0",
        "season": season,
        "date": f"{year}-09-{day:02d}",
        "home": f"H{day}",
        "away": f"A{day}",
        "goals": goals,
        "odds": {"pinnacle_home": home_price},
    }


async def test_the_walk_forward_chooses_by_all_earlier_seasons(
    service: FilterBetsService,
) -> None:
    """Two variants worth following: `cheap` backs home prices below 2, `dear` 2 or more.

    season    cheap            dear
    2017-18   3 won at 1.5: +1.5    1 lost: -1
    2018-19   1 lost: -1            1 lost: -1
    2019-20   3 lost at 1.8: -3     2 won at 4.0: +6
    2020-21   1 won at 1.8: +0.8    1 lost: -1

    For 2019-20 the pooled yields of 2017-19 are cheap +0.5/4, dear -2/2 (and `all` -1.5/6):
    cheap is bet, and loses 3. For 2020-21, 2017-20: cheap -2.5/7, dear +4/4: dear is bet, and
    loses 1. Out of sample: 4 bets, -4. The best whole-data yield is dear's, +3/5."""
    won, lost = (1, 0), (0, 1)
    specs = [
        *(_fixture("2017-18", day, 1.5, won) for day in (1, 2, 3)),
        _fixture("2017-18", 4, 3.0, lost),
        _fixture("2018-19", 1, 1.5, lost),
        _fixture("2018-19", 2, 3.0, lost),
        *(_fixture("2019-20", day, 1.8, lost) for day in (1, 2, 3)),
        *(_fixture("2019-20", day, 4.0, won) for day in (4, 5)),
        _fixture("2020-21", 1, 1.8, won),
        _fixture("2020-21", 2, 4.0, lost),
    ]
    await add_fixtures(service, specs)
    rules = {
        "field": "odds.pinnacle.home",
        "op": "between",
        "value": [{"param": "lo"}, {"param": "hi"}],
    }
    cheap, dear = {"lo": 1.0, "hi": 1.99}, {"lo": 2.0, "hi": 100.0}
    request = _sweep(rules, {"lo": [1.0, 2.0], "hi": [1.99, 100.0]}, min_bets=1)
    # Grid order: cheap (1-1.99), all (1-100), none (2-1.99: lo > hi), dear (2-100).
    run = await SweepEngine(service.db, service.user_id).run(request)
    walk = run.report["walk_forward"]
    assert run.report["seasons"] == ["2017-18", "2018-19", "2019-20", "2020-21"]
    assert [row["season"] for row in walk["seasons"]] == ["2019-20", "2020-21"]
    assert [row["chosen"] for row in walk["seasons"]] == [cheap, dear]
    assert [row["bets"] for row in walk["seasons"]] == [3, 1]
    assert [row["profit"] for row in walk["seasons"]] == [-3.0, -1.0]
    assert (walk["bets"], walk["profit"], walk["yield"]) == (4, -4.0, -1.0)
    assert walk["p_value"] is None  # every out-of-sample bet lost: no variance
    assert walk["best_in_sample_yield"] == 0.6
    variants = run.report["variants"]
    assert variants[2]["bets"] == 0 and variants[2]["yield"] is None
    # With min-bets 6 only `all` has enough in-sample bets (6 in 2017-19, 11 in 2017-20;
    # cheap has 4 and 7 but trails it in 2017-20), and it is the best with 13 bets, +1.3.
    run = await SweepEngine(service.db, service.user_id).run(
        _sweep(rules, request.grid, min_bets=6), store=False
    )
    walk = run.report["walk_forward"]
    assert [row["chosen"] for row in walk["seasons"]] == [{"lo": 1.0, "hi": 100.0}] * 2
    assert walk["best_in_sample_yield"] == 0.1


async def test_the_walk_forward_is_off_below_three_seasons_and_on_request(
    service: FilterBetsService,
) -> None:
    await add_fixtures(
        service,
        [_fixture("2017-18", d, 1.5 + d / 10, (d % 2, 1)) for d in range(1, 5)]
        + [_fixture("2018-19", d, 1.5 + d / 10, (1, d % 2)) for d in range(1, 5)],
    )
    rules = {"field": "odds.pinnacle.home", "op": ">", "value": {"param": "lo"}}
    engine = SweepEngine(service.db, service.user_id)
    run = await engine.run(_sweep(rules, {"lo": [1.0, 1.8]}), store=False)
    assert run.report["walk_forward"] is None
    assert any("at least 3 seasons" in warning for warning in run.report["warnings"])
    assert run.report["pbo"] is None  # 8 distinct bet days: fewer than 10 blocks
    assert any("at least 10 bet days" in warning for warning in run.report["warnings"])
    assert (await engine.run(_sweep(rules, {"lo": [1.0, 1.8]}, pbo_blocks=4))).report[
        "pbo"
    ] is not None
    await add_fixtures(service, [_fixture("2019-20", 1, 2.0, (1, 0))])
    assert (await engine.run(_sweep(rules, {"lo": [1.0]}))).report["walk_forward"] is not None
    off = await engine.run(_sweep(rules, {"lo": [1.0]}, walk_forward=False))
    assert off.report["walk_forward"] is None


# -- storage ------------------------------------------------------------------------------


async def test_a_sweep_is_stored_as_one_result_and_counts_its_trials(
    service: FilterBetsService,
) -> None:
    await add_fixtures(service, random_fixture_specs(120, seed=3))
    store = FilterStore(service.db, service.user_id)
    saved = await store.create("band", BAND)
    request = SweepRequest(
        backtest=BacktestRequest(market="home", filter_ref="band"),
        grid={"league": ["E0", "D1"], "lo": [1.5, 2.0], "hi": [3.0]},
    )
    engine = SweepEngine(service.db, service.user_id)
    run = await engine.run(request)
    results = ResultStore(service.db, service.user_id)
    detail = await results.get(run.result_id)
    assert detail.summary.kind == "sweep" and detail.summary.filter_name == "band"
    assert detail.metrics["trials"] == 4 and "variants" not in detail.metrics
    variants = await results.variants(run.result_id)
    assert [v.params for v in variants] == [v["params"] for v in run.report["variants"]]
    assert [v.q_value for v in variants] == [v["q_value"] for v in run.report["variants"]]
    async with service.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(SweepVariant)) == 4
    assert await filter_trials(service.db, saved.id) == 4
    await engine.run(request)  # the same variants again: no new trials
    assert await filter_trials(service.db, saved.id) == 4
    # Promoting a variant runs its backtest, with a ledger, and the same numbers.
    promoted = await results.variant_request(run.result_id, 1)
    backtest = await BacktestEngine(service.db, service.user_id).run(promoted)
    for key in SUMMARY_KEYS:
        assert backtest.metrics[key] == run.report["variants"][1][key]
    assert (await results.get(backtest.result_id)).summary.kind == "backtest"
    assert json.dumps(run.report)  # the CLI's --json object is plain JSON


def _cli(service: FilterBetsService, *args: str) -> tuple[int, str]:
    """`filterbets --database-url URL ARGS...` in this process; (exit code, stdout)."""
    import contextlib
    import io

    import core.cli

    url = service.settings.database_url.render_as_string(hide_password=False)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = core.cli.main(["--database-url", url, *args])
    return code, out.getvalue()


async def test_the_sweep_command_takes_a_template_inline_and_promotes_a_variant(
    service: FilterBetsService,
) -> None:
    """`--rules` holding {"param": ...} was refused by the backtest's rules check."""
    await add_fixtures(service, random_fixture_specs(120, seed=5))
    grid = {"league": ["E0", "D1"], "lo": [1.5, 2.0], "hi": [3.0]}
    args = ["sweep", "--rules", json.dumps(BAND), "--market", "home", "--grid", json.dumps(grid)]
    code, out = await asyncio.to_thread(_cli, service, *args, "--json")
    assert code == 0
    report = json.loads(out)
    expected = await SweepEngine(service.db, service.user_id).run(_sweep(BAND, grid))
    assert report["variants"] == expected.report["variants"]
    code, out = await asyncio.to_thread(
        _cli, service, "promote", str(report["result_id"]), "2", "--json"
    )
    assert code == 0
    promoted = json.loads(out)
    for key in SUMMARY_KEYS:
        assert promoted[key] == report["variants"][2][key], key


async def test_backtests_of_a_filter_count_each_version_once_as_a_trial(
    service: FilterBetsService,
) -> None:
    """Issue 11: a filter counts the variants ever run on it, backtests of edited versions
    too (only sweeps were counted)."""
    await add_fixtures(service, random_fixture_specs(60, seed=8))
    store = FilterStore(service.db, service.user_id)
    band = [{"field": "odds.pinnacle.home", "op": "between", "value": [1.5, 3.0]}]
    saved = await store.create("band", band)
    engine = BacktestEngine(service.db, service.user_id)
    request = BacktestRequest(market="home", filter_ref="band")
    run = await engine.run(request)
    assert await filter_trials(service.db, saved.id) == 1
    await engine.run(request)  # the same version again: no new trial
    assert await filter_trials(service.db, saved.id) == 1
    await store.update(saved.id, rules=[{**band[0], "value": [1.6, 3.0]}])
    await engine.run(request)
    await engine.run(BacktestRequest(market="away", filter_ref="band"))  # another market
    assert await filter_trials(service.db, saved.id) == 3
    detail = await ResultStore(service.db, service.user_id).get(run.result_id)
    assert detail.trials is not None and detail.trials.trials == 3
    await engine.run(BacktestRequest(market="home", rules=band))  # inline: no filter's trial
    assert await filter_trials(service.db, saved.id) == 3
