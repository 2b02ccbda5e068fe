"""A strategy run's metrics as text, for the terminal."""

from __future__ import annotations

from typing import Any


def _percent(value: Any) -> str:
    return "-" if value is None else f"{value * 100:+.2f}%"


def _share(value: Any) -> str:
    return "-" if value is None else f"{value * 100:.2f}%"


def _ratio(value: Any) -> str:
    return "-" if value is None else f"{value:.3f}"


def render_strategy_metrics(run: Any) -> str:
    m = run.metrics
    request = run.request
    options = ["long/short" if request.long_short else "long only", f"fee {request.fee:g}"]
    if request.slippage_bps:
        options.append(f"slippage {request.slippage_bps:g} bps")
    if request.stop_loss_pct is not None:
        options.append(f"stop {request.stop_loss_pct:g}%")
    if request.take_profit_pct is not None:
        options.append(f"target {request.take_profit_pct:g}%")
    if request.size != 1:
        options.append(f"size {request.size:g}")
    duration = m["max_drawdown_duration"]
    lines = [
        f"{request.title} ({run.series.exchange}), {len(run.bars):,} bars"
        f" {run.to_json()['start'][:16]} to {run.to_json()['end'][:16]}",
        f"  {', '.join(options)}; cash {request.cash:,.2f}",
        "",
        f"  trades          {m['trades']:,}   wins {m['wins']:,}"
        f"   win rate {_share(m['win_rate'])}",
        f"  final equity    {m['final_equity']:,.2f}   total return {_percent(m['total_return'])}"
        f"   buy and hold {_percent(m['buy_and_hold_return'])}",
        f"  max drawdown    {_share(m['max_drawdown'])}   lasting {duration['bars']:,} bars"
        f" ({duration['days']:.1f} days)",
        f"  sharpe {_ratio(m['sharpe'])}   sortino {_ratio(m['sortino'])}"
        f"   calmar {_ratio(m['calmar'])}",
        f"  profit factor   {_ratio(m['profit_factor'])}   expectancy "
        + ("-" if m["expectancy"] is None else f"{m['expectancy']:,.2f}")
        + " per trade",
        f"  exposure        {_share(m['exposure'])}   fees paid {m['fees_paid']:,.2f}",
    ]
    if run.result_id is not None:
        lines.append(f"\n  stored as result {run.result_id} ({run.seconds * 1000:.0f} ms)")
    return "\n".join(lines)
