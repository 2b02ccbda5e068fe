"""Plain-text rendering of a backtest's metrics for the terminal (the CLI's readable table)."""

from __future__ import annotations

from typing import Any

_SPLIT_TITLES = {"season": "Season", "league": "League", "month": "Month", "odds_band": "Odds"}
_MONTHS = ("", "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _num(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.{digits}f}"


def _pct(value: Any, digits: int = 2) -> str:
    return "-" if value is None else f"{value * 100:+.{digits}f}%"


def _plain_pct(value: Any, digits: int = 1) -> str:
    return "-" if value is None else f"{value * 100:.{digits}f}%"


def _p(value: Any) -> str:
    if value is None:
        return "-"
    return "<0.0001" if value < 0.0001 else f"{value:.4f}"


def _pairs(rows: list[tuple[str, str]]) -> list[str]:
    width = max(len(label) for label, _ in rows)
    return [f"  {label:<{width}}  {value}" for label, value in rows]


def _split_table(name: str, rows: list[dict[str, Any]]) -> list[str]:
    title = _SPLIT_TITLES.get(name, name)
    lines = [f"  {title:<10} {'bets':>7} {'profit':>11} {'yield':>9}"]
    for row in rows:
        key = row.get("key")
        label = _MONTHS[key] if name == "month" and isinstance(key, int) else str(key)
        lines.append(
            f"  {label:<10} {row['bets']:>7,} {_num(row['profit']):>11} {_pct(row.get('yield')):>9}"
        )
    return lines


def render_metrics(metrics: dict[str, Any], *, title: str, result_id: int | None) -> str:
    staking = metrics.get("staking", {})
    plan = staking.get("kind", "flat")
    if plan == "flat":
        plan_text = f"flat {staking.get('stake')} per bet"
    elif plan == "percent":
        plan_text = f"{staking.get('percent')}% of bank (start {staking.get('bank')})"
    else:
        plan_text = (
            f"kelly x{staking.get('fraction')} capped at {staking.get('cap')} of bank"
            f" (start {staking.get('bank')})"
        )
    lines = [
        f"{title}",
        f"  market {metrics['market']} at {metrics['odds_source']} odds, {plan_text}"
        + (f", result #{result_id}" if result_id else ""),
        "",
    ]
    warnings = metrics.get("warnings") or []
    for warning in warnings:
        lines.append(f"  ! {warning}")
    if warnings:
        lines.append("")
    lines.extend(
        _pairs(
            [
                (
                    "bets",
                    f"{metrics['bets']:,}  (W {metrics['wins']:,} / L {metrics['losses']:,}"
                    f" / push {metrics['pushes']:,} / half W {metrics['half_wins']:,}"
                    f" / half L {metrics['half_losses']:,})",
                ),
                (
                    "not bet",
                    f"no odds {metrics['skipped_no_odds']:,},"
                    f" no edge {metrics['skipped_no_edge']:,}"
                    + (
                        f", no Pinnacle price {metrics.get('skipped_no_pinnacle_price', 0):,}"
                        if plan == "kelly"
                        else ""
                    ),
                ),
                ("strike rate", _plain_pct(metrics["strike_rate"])),
                ("avg odds", _num(metrics["avg_odds"], 3)),
                ("staked", _num(metrics["staked"])),
                ("profit", _num(metrics["profit"])),
                ("yield", _pct(metrics["yield"])),
                ("roc", _pct(metrics["roc"])),
                (
                    "max drawdown",
                    f"{_num(metrics['max_drawdown'])} units"
                    + (
                        f" ({_plain_pct(metrics['max_drawdown_pct'])} of peak bank)"
                        if metrics.get("max_drawdown_pct") is not None
                        else ""
                    )
                    + f", {metrics['drawdown_duration_bets']:,} bets under water",
                ),
                (
                    "longest runs",
                    f"won {metrics['longest_winning_run']}, lost {metrics['longest_losing_run']}",
                ),
                (
                    "t-test",
                    f"t = {_num(metrics['t_stat'], 3)}, one-sided p = {_p(metrics['p_value'])}",
                ),
                ("p (odds-weighted)", _p(metrics.get("p_value_odds_weighted"))),
                (
                    "CLV",
                    f"{_pct(metrics['clv'])} over {_plain_pct(metrics['clv_coverage'], 0)}"
                    " of bets with Pinnacle closing prices"
                    if metrics.get("clv") is not None
                    else "not measured: no Pinnacle closing prices for these bets",
                ),
            ]
        )
    )
    for name, rows in (metrics.get("splits") or {}).items():
        if rows:
            lines.append("")
            lines.extend(_split_table(name, rows))
    return "\n".join(lines)
