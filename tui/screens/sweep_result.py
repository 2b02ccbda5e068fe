"""A stored sweep: its headline and PBO reading, every variant (sortable, with q-values), a
heatmap of yield over two parameters, and the walk-forward. Enter on a variant promotes it to
a full backtest with its ledger and opens that result.

The Results screen (and anything that opens a result, e.g. the Jobs screen) opens a sweep
here: `ResultDetailScreen` hands over to this screen when the result it loads is a sweep.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, cast

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.events import Resize
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static, TabbedContent, TabPane
from textual.worker import Worker, WorkerState

from core.backtest.grid import Grid, parse_grid
from core.backtest.trials import filter_trials
from core.results import ResultDetail, ResultStore, SweepVariantRow
from tui.widgets.metrics_panel import fmt_pct, fmt_units, warning_texts
from tui.widgets.rule_text import value_text
from tui.widgets.styles import signed_style
from tui.widgets.sweep_view import (
    BEST_FIRST_DESC,
    SORT_LABELS,
    VARIANT_SORTS,
    HeatmapAxes,
    HeatmapSlice,
    VariantSort,
    best_variant,
    default_axes,
    heatmap_slice,
    held_count,
    held_params,
    next_axes,
    params_text,
    sort_variants,
    yield_cell_text,
    yield_shade,
)
from tui.widgets.vim_table import VimDataTable

if TYPE_CHECKING:
    from tui.app import FilterBetsApp

LOAD_GROUP = "sweep-load"
PROMOTE_GROUP = "sweep-promote"
PAGE_SIZE = 500
"""Variants in the table at a time (a sweep may have a million)."""
CELL_WIDTH = 6
"""A heatmap cell: "+12.3", "-100.0"."""


class SweepLoaded(Message):
    def __init__(self, detail: ResultDetail, variants: list[SweepVariantRow], trials: int) -> None:
        super().__init__()
        self.detail = detail
        self.variants = variants
        self.trials = trials


class VariantPromoted(Message):
    def __init__(self, index: int, result_id: int) -> None:
        super().__init__()
        self.index = index
        self.result_id = result_id


_TABS = Binding.Group("Tabs", compact=True)
_PAGES = Binding.Group("Page", compact=True)


class SweepResultScreen(Screen[None]):
    """One sweep: v variants, m heatmap, w walk-forward; enter promotes a variant."""

    TITLE = "FilterBets · Sweep"
    HELP_SCOPE: ClassVar[str] = "Sweep result"
    DEFAULT_CSS = """
    #sweep-title {
        background: $boost;
    }
    #sweep-headline, #sweep-warnings {
        height: auto;
        padding: 0 1;
    }
    #sweep-tabs {
        height: 1fr;
    }
    #sweep-tabs TabPane {
        padding: 0 1;
    }
    #sweep-tabs .bar {
        padding: 0;
    }
    #sweep-variants, #sweep-heatmap, #sweep-walk {
        height: 1fr;
        scrollbar-size-vertical: 1;
    }
    #sweep-heatmap-legend, #sweep-walk-notes {
        height: auto;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Back", id="sweep.back"),
        Binding("v", "show_tab('variants')", "Variants", id="sweep.tab_variants", group=_TABS),
        Binding("m", "show_tab('heatmap')", "Heatmap", id="sweep.tab_heatmap", group=_TABS),
        Binding("w", "show_tab('walk')", "Walk-forward", id="sweep.tab_walk", group=_TABS),
        Binding("s", "sort", "Sort", id="sweep.sort"),
        Binding("S", "reverse_sort", "Reverse sort", show=False, id="sweep.sort_reverse"),
        Binding("b", "toggle_min_bets", "Min bets", show=False, id="sweep.min_bets"),
        Binding("a", "next_axes", "Axes", id="sweep.axes"),
        Binding("t", "swap_axes", "Swap", id="sweep.swap_axes"),
        Binding(
            "left_square_bracket",
            "page(-1)",
            "Previous",
            key_display="[",
            id="sweep.prev",
            group=_PAGES,
        ),
        Binding(
            "right_square_bracket",
            "page(1)",
            "Next",
            key_display="]",
            id="sweep.next",
            group=_PAGES,
        ),
        Binding("enter", "promote", "Promote", id="sweep.promote"),
    ]

    def __init__(self, result_id: int) -> None:
        super().__init__()
        self.result_id = result_id
        self.detail: ResultDetail | None = None
        self.grid: Grid | None = None
        self.variants: list[SweepVariantRow] = []
        self.filter_trials = 0
        self.min_bets = 0
        self.sort_by: VariantSort = "yield"
        self.sort_desc = True
        self.only_enough_bets = True
        """Variants with fewer than the sweep's min bets are left out of the table (b)."""
        self.page_offset = 0
        self.shown: list[SweepVariantRow] = []
        """The variants the table holds now, in its order."""
        self.axes: HeatmapAxes | None = None
        self.held_index = 0
        self.slice: HeatmapSlice | None = None
        self.promoting: int | None = None

    @property
    def filterbets(self) -> FilterBetsApp:
        return cast("FilterBetsApp", self.app)

    def _store(self) -> ResultStore | None:
        service = self.filterbets.service
        return None if service is None else ResultStore(service.db, service.user_id)

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Loading…", id="sweep-title", classes="bar")
        yield Static("", id="sweep-headline")
        yield Static("", id="sweep-warnings")
        with TabbedContent(initial="variants", id="sweep-tabs"):
            with TabPane("Variants", id="variants"):
                yield Static("", id="sweep-variants-status", classes="bar")
                yield VimDataTable(id="sweep-variants", cursor_type="row", zebra_stripes=True)
            with TabPane("Heatmap", id="heatmap"), Vertical():
                yield Static("", id="sweep-heatmap-title", classes="bar")
                yield VimDataTable(id="sweep-heatmap", cursor_type="cell", fixed_columns=1)
                yield Static("", id="sweep-heatmap-cell", classes="bar")
                yield Static("", id="sweep-heatmap-legend", classes="hint")
            with TabPane("Walk-forward", id="walk"):
                yield VimDataTable(id="sweep-walk", cursor_type="row", zebra_stripes=True)
                yield Static("", id="sweep-walk-notes", classes="hint")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        store = self._store()
        if store is not None:
            self._load(store)

    @work(exclusive=True, group=LOAD_GROUP, exit_on_error=False)
    async def _load(self, store: ResultStore) -> None:
        detail = await store.get(self.result_id)
        variants = await store.variants(self.result_id)
        filter_id = detail.summary.filter_id
        trials = 0 if filter_id is None else await filter_trials(store.db, filter_id)
        self.post_message(SweepLoaded(detail, variants, trials))

    @on(SweepLoaded)
    def _loaded(self, message: SweepLoaded) -> None:
        self.show_sweep(message.detail, message.variants, message.trials)

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        error = event.worker.error
        if event.state is not WorkerState.ERROR or error is None:
            return
        if event.worker.group == LOAD_GROUP:
            self.filterbets.report_error(error, doing="loading the sweep")
            self.query_one("#sweep-title", Static).update(
                Text(f"Could not load sweep #{self.result_id}.")
            )
        elif event.worker.group == PROMOTE_GROUP:
            self.promoting = None
            self.filterbets.report_error(error, doing="promoting the variant")

    # Showing ---------------------------------------------------------------------------

    def show_sweep(
        self, detail: ResultDetail, variants: list[SweepVariantRow], filter_trials: int
    ) -> None:
        self.detail = detail
        self.variants = variants
        self.filter_trials = filter_trials
        metrics = detail.metrics
        self.min_bets = int(metrics.get("min_bets") or 0)
        self.grid = parse_grid(detail.summary.request["sweep"]["grid"])
        self.axes = default_axes(self.grid)
        summary = detail.summary
        self.query_one("#sweep-title", Static).update(
            Text.assemble(
                (f"#{summary.id} {summary.title}", "bold"),
                f" · sweep of {len(variants):,} variants · {summary.market} @"
                f" {summary.odds_source} · flat {metrics.get('stake', '1.00')}",
            )
        )
        pbo = metrics.get("pbo")
        self.query_one("#sweep-headline", Static).update(
            Text.assemble(
                (_sentence(str(metrics.get("headline") or "")), "bold"),
                "\n",
                ("PBO" + ("" if pbo is None else f" {float(pbo):.2f}") + ": ", "bold"),
                str(metrics.get("pbo_reading") or ""),
            )
        )
        warnings = self.query_one("#sweep-warnings", Static)
        texts = warning_texts(metrics)
        warnings.update(Text("\n").join(texts))
        warnings.display = bool(texts)
        if self.min_bets == 0:
            self.only_enough_bets = False
        self.show_variants()
        self.show_heatmap()
        self.show_walk_forward()
        self.query_one("#sweep-variants", VimDataTable).focus()
        self.refresh_bindings()

    def _listed(self) -> list[SweepVariantRow]:
        variants = self.variants
        if self.only_enough_bets:
            variants = [v for v in variants if v.bets >= self.min_bets]
        return sort_variants(variants, self.sort_by, self.sort_desc)

    def show_variants(self) -> None:
        if self.grid is None:
            return
        listed = self._listed()
        self.page_offset = min(self.page_offset, max(0, (len(listed) - 1) // PAGE_SIZE * PAGE_SIZE))
        self.shown = listed[self.page_offset : self.page_offset + PAGE_SIZE]
        table = self.query_one("#sweep-variants", VimDataTable)
        selected = self.selected_variant()
        table.clear(columns=True)
        numeric = [
            ("index", "#", 5),
            *(
                (f"param:{name}", name, self._param_width(k))
                for k, name in enumerate(self.grid.names)
            ),
            ("bets", "Bets", 6),
            ("profit", "Profit", 8),
            ("yield", "Yield", 8),
            ("max_drawdown", "Max DD", 7),
            ("p", "p", 6),
            ("q", "q", 6),
        ]
        for key, label, width in numeric:
            text = Text(label, justify="left" if key.startswith("param:") else "right")
            if key == self.sort_by:
                text.stylize("bold underline")
            table.add_column(text, key=key, width=width)
        for variant in self.shown:
            table.add_row(*self._variant_cells(variant), key=str(variant.index))
        if selected is not None and str(selected.index) in table.rows:
            table.move_cursor(row=table.get_row_index(str(selected.index)), animate=False)
        self._show_variants_status(len(listed))

    def _param_width(self, k: int) -> int:
        assert self.grid is not None
        texts = [value_text(v) for v in self.grid.values[k]]
        return max(len(self.grid.names[k]), *(len(t) for t in texts), 3)

    def _variant_cells(self, v: SweepVariantRow) -> list[Text]:
        assert self.grid is not None
        params = [Text(value_text(v.params.get(name))) for name in self.grid.names]
        style = signed_style(v.yield_)
        drawdown = fmt_units(v.max_drawdown, sign=False) if v.bets else "-"
        return [
            Text(str(v.index), justify="right", style="dim"),
            *params,
            Text(f"{v.bets:,}", justify="right"),
            Text(fmt_units(v.profit), justify="right", style=signed_style(float(v.profit))),
            Text(fmt_pct(v.yield_), justify="right", style=style),
            Text(drawdown, justify="right"),
            Text(_p(v.p_value), justify="right"),
            Text(_p(v.q_value), justify="right"),
        ]

    def _show_variants_status(self, listed: int) -> None:
        total = len(self.variants)
        if self.only_enough_bets:
            which = f"{listed:,} of {total:,} variants with {self.min_bets:,}+ bets (b: all)"
        elif self.min_bets:
            which = f"all {total:,} variants (b: only {self.min_bets:,}+ bets)"
        else:
            which = f"all {total:,} variants"
        parts = [which]
        if listed > PAGE_SIZE:
            last = min(self.page_offset + PAGE_SIZE, listed)
            parts.append(f"{self.page_offset + 1:,}-{last:,} ([ ] page)")
        arrow = "▼" if self.sort_desc else "▲"
        parts.append(f"sort: {SORT_LABELS[self.sort_by]} {arrow}")
        parts.append("enter promotes")
        self.query_one("#sweep-variants-status", Static).update(Text(" · ".join(parts)))

    def selected_variant(self) -> SweepVariantRow | None:
        """The variant under the cursor of the tab showing (variants table or heatmap)."""
        if self.query_one(TabbedContent).active == "heatmap":
            return self._heatmap_variant()
        table = self.query_one("#sweep-variants", VimDataTable)
        if not self.shown or not table.is_valid_row_index(table.cursor_row):
            return None
        index = int(str(table.ordered_rows[table.cursor_row].key.value))
        return self.variants[index]

    # The heatmap -----------------------------------------------------------------------

    def show_heatmap(self) -> None:
        grid, axes = self.grid, self.axes
        if grid is None or axes is None:
            return
        self.slice = cut = heatmap_slice(grid, axes, self.held_index)
        table = self.query_one("#sweep-heatmap", VimDataTable)
        cursor = table.cursor_coordinate
        table.clear(columns=True)
        label_width = max(len(cut.row_name), *(len(value_text(v)) for v in cut.row_values))
        table.add_column(Text(cut.row_name, style="bold"), key="row", width=label_width)
        best = best_variant(self.variants, self.min_bets)
        yields = [self.variants[i].yield_ for row in cut.cells for i in row]
        scale = max((abs(y) for y in yields if y is not None), default=0.0)
        if cut.col_name is None:
            table.add_column(Text("yield %", justify="right"), key="c0", width=CELL_WIDTH + 1)
        else:
            for c, value in enumerate(cut.col_values):
                width = max(CELL_WIDTH + 1, len(value_text(value)))
                table.add_column(Text(value_text(value), justify="right"), key=f"c{c}", width=width)
        for r, value in enumerate(cut.row_values):
            cells: list[Text] = [Text(value_text(value), style="bold")]
            for index in cut.cells[r]:
                cells.append(self._heat_cell(self.variants[index], best, scale))
            table.add_row(*cells, key=f"r{r}")
        # The first column names the rows: the cursor starts on (and keeps to) the cells.
        row = min(cursor.row, table.row_count - 1)
        column = min(max(cursor.column, 1), len(table.columns) - 1)
        table.move_cursor(row=row, column=column, animate=False)
        self._show_heatmap_title(cut)
        self.query_one("#sweep-heatmap-legend", Static).update(
            Text(
                f"Yield % (· no bets, dim: under {max(self.min_bets, 1):,} bets, * best in"
                " sample) · enter promotes"
                + (" · [ ] held value" if held_params(grid, axes) else "")
            )
        )
        self._show_heat_cell()

    def _heat_cell(
        self, variant: SweepVariantRow, best: SweepVariantRow | None, scale: float
    ) -> Text:
        text = yield_cell_text(variant)
        if best is not None and variant.index == best.index:
            text += "*"
        style = ""
        shade = yield_shade(variant.yield_, scale)
        if shade is not None:
            style = f"#f0f0f0 on {shade}"
        if variant.bets < max(self.min_bets, 1):
            style += " dim"
        elif best is not None and variant.index == best.index:
            style += " bold"
        return Text(text, style=style.strip(), justify="right")

    def _show_heatmap_title(self, cut: HeatmapSlice) -> None:
        assert self.grid is not None and self.axes is not None
        if cut.col_name is None:
            title = f"Yield by {cut.row_name}"
        else:
            title = f"Yield by {cut.row_name} (down) and {cut.col_name} (across)"
        if cut.held:
            held = ", ".join(f"{name}={value_text(v)}" for name, v in cut.held.items())
            count = held_count(self.grid, self.axes)
            title += f" · {held} ({self.held_index % count + 1} of {count})"
        self.query_one("#sweep-heatmap-title", Static).update(Text(title))

    def _heatmap_variant(self) -> SweepVariantRow | None:
        cut = self.slice
        table = self.query_one("#sweep-heatmap", VimDataTable)
        if cut is None or not table.row_count:
            return None
        row, column = table.cursor_coordinate
        if not 0 <= row < len(cut.cells) or not 1 <= column <= len(cut.cells[row]):
            return None
        return self.variants[cut.cells[row][column - 1]]

    def _show_heat_cell(self) -> None:
        variant = self._heatmap_variant()
        box = self.query_one("#sweep-heatmap-cell", Static)
        if variant is None:
            box.update(Text(""))
            return
        box.update(
            Text.assemble(
                (f"#{variant.index} {params_text(variant.params)}", "bold"),
                f": {variant.bets:,} bets, ",
                (f"{fmt_units(variant.profit)} u", signed_style(float(variant.profit))),
                ", yield ",
                (fmt_pct(variant.yield_), signed_style(variant.yield_)),
                f", p {_p(variant.p_value)}, q {_p(variant.q_value)}",
            )
        )

    @on(DataTable.CellHighlighted, "#sweep-heatmap")
    def _cell_highlighted(self, event: DataTable.CellHighlighted) -> None:
        if event.coordinate.column == 0:  # the row's name, not a variant
            event.data_table.move_cursor(column=1, animate=False)
            return
        self._show_heat_cell()

    # The walk-forward ------------------------------------------------------------------

    def show_walk_forward(self) -> None:
        detail = self.detail
        if detail is None:
            return
        metrics = detail.metrics
        walk = metrics.get("walk_forward")
        table = self.query_one("#sweep-walk", VimDataTable)
        table.clear(columns=True)
        for key, label, numeric in (
            ("season", "Season", False),
            ("bets", "Bets", True),
            ("profit", "Profit", True),
            ("yield", "Yield", True),
            ("chosen", "Chosen in sample (all earlier seasons)", False),
        ):
            table.add_column(Text(label, justify="right" if numeric else "left"), key=key)
        notes: list[Text] = []
        if walk is None:
            table.display = False
            notes.append(Text("No walk-forward: " + _walk_missing(metrics), style="bold"))
        else:
            table.display = True
            for row in walk.get("seasons") or ():
                chosen = row.get("chosen")
                table.add_row(
                    Text(str(row.get("season"))),
                    Text(f"{int(row.get('bets') or 0):,}", justify="right"),
                    _money(row.get("profit")),
                    _yield(row.get("yield")),
                    Text(
                        params_text(self._in_grid_order(chosen)) if chosen else "none eligible",
                        style="" if chosen else "dim",
                    ),
                )
            table.add_row(
                Text("all", style="bold"),
                Text(f"{int(walk.get('bets') or 0):,}", justify="right", style="bold"),
                _money(walk.get("profit")),
                _yield(walk.get("yield")),
                Text(
                    f"p {_p(walk.get('p_value'))} · best in sample"
                    f" {fmt_pct(walk.get('best_in_sample_yield'))}",
                    style="bold",
                ),
            )
        notes.append(self._pbo_note(metrics))
        notes.append(self._trials_note(metrics))
        self.query_one("#sweep-walk-notes", Static).update(Text("\n").join(notes))

    def _in_grid_order(self, params: dict[str, Any]) -> dict[str, Any]:
        """Parameters in the grid's order (JSONB keeps an object's keys in an order of its own)."""
        names = self.grid.names if self.grid is not None else ()
        return {name: params[name] for name in names if name in params} | params

    def _pbo_note(self, metrics: dict[str, Any]) -> Text:
        detail = metrics.get("pbo_detail") or {}
        pbo = metrics.get("pbo")
        if pbo is None:
            return Text(f"PBO: {metrics.get('pbo_reading', '-')}")
        return Text(
            f"PBO {float(pbo):.2f}: {int(detail.get('overfit_splits') or 0):,} of"
            f" {int(detail.get('evaluated_splits') or 0):,} in/out-of-sample splits overfit"
            f" ({int(detail.get('blocks') or 0)} blocks of {int(detail.get('bet_days') or 0):,}"
            " bet days)"
        )

    def _trials_note(self, metrics: dict[str, Any]) -> Text:
        trials = int(metrics.get("trials") or len(self.variants))
        text = f"{trials:,} trials in this sweep"
        detail = self.detail
        if detail is not None and detail.summary.filter_id is not None:
            text += f"; {self.filter_trials:,} ever on filter {detail.summary.title}"
        return Text(text + "; q is the Benjamini-Hochberg adjusted p over this sweep")

    # Actions ---------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if self.detail is None:
            return action in ("close", "show_tab") or None
        tab = self.query_one(TabbedContent).active
        if action in ("sort", "reverse_sort", "toggle_min_bets"):
            return tab == "variants"
        if action in ("next_axes", "swap_axes"):
            needed = 3 if action == "next_axes" else 2
            return tab == "heatmap" and self.grid is not None and len(self.grid.names) >= needed
        if action == "page":
            if tab == "heatmap":
                return bool(self.grid and self.axes and held_params(self.grid, self.axes))
            return tab == "variants" and len(self._listed()) > PAGE_SIZE
        if action == "promote":
            return tab in ("variants", "heatmap")
        return True

    @on(TabbedContent.TabActivated)
    def _tab_changed(self) -> None:
        self.refresh_bindings()

    def action_show_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab
        table = next(iter(self.query_one(f"#{tab}", TabPane).query(VimDataTable)), None)
        if table is not None and table.display:
            table.focus()
        self.refresh_bindings()

    def action_close(self) -> None:
        self.app.pop_screen()

    def action_sort(self) -> None:
        position = VARIANT_SORTS.index(self.sort_by)
        self.sort_by = VARIANT_SORTS[(position + 1) % len(VARIANT_SORTS)]
        self.sort_desc = BEST_FIRST_DESC[self.sort_by]
        self.page_offset = 0
        self.show_variants()

    def action_reverse_sort(self) -> None:
        self.sort_desc = not self.sort_desc
        self.page_offset = 0
        self.show_variants()

    @on(DataTable.HeaderSelected, "#sweep-variants")
    def _header_clicked(self, event: DataTable.HeaderSelected) -> None:
        key = str(event.column_key.value)
        for known in VARIANT_SORTS:
            if known == key:
                same = known == self.sort_by
                self.sort_by = known
                self.sort_desc = not self.sort_desc if same else BEST_FIRST_DESC[known]
                self.page_offset = 0
                self.show_variants()

    def action_toggle_min_bets(self) -> None:
        if self.min_bets == 0:
            return
        self.only_enough_bets = not self.only_enough_bets
        self.page_offset = 0
        self.show_variants()
        self.refresh_bindings()

    def action_page(self, step: int) -> None:
        if self.query_one(TabbedContent).active == "heatmap":
            if self.grid is not None and self.axes is not None:
                count = held_count(self.grid, self.axes)
                self.held_index = (self.held_index + step) % max(count, 1)
                self.show_heatmap()
            return
        listed = len(self._listed())
        offset = self.page_offset + step * PAGE_SIZE
        if 0 <= offset < listed:
            self.page_offset = offset
            self.show_variants()

    def action_next_axes(self) -> None:
        if self.grid is not None and self.axes is not None:
            self.axes = next_axes(self.grid, self.axes)
            self.held_index = 0
            self.show_heatmap()

    def action_swap_axes(self) -> None:
        axes = self.axes
        if axes is not None and axes.cols is not None:
            self.axes = HeatmapAxes(axes.cols, axes.rows)
            self.show_heatmap()

    @on(DataTable.RowSelected, "#sweep-variants")
    @on(DataTable.CellSelected, "#sweep-heatmap")
    def _chosen(self, event: Message) -> None:
        event.stop()
        self.action_promote()

    def action_promote(self) -> None:
        variant = self.selected_variant()
        store = self._store()
        service = self.filterbets.service
        if variant is None or store is None or service is None:
            return
        if self.promoting is not None:
            self.notify(f"Variant {self.promoting} is being promoted; a moment.", title="Promote")
            return
        self.promoting = variant.index
        self.notify(
            f"Running variant {variant.index} ({params_text(variant.params)}) as a backtest…",
            title="Promote",
        )
        self._promote(store, variant.index)

    @work(exclusive=True, group=PROMOTE_GROUP, exit_on_error=False)
    async def _promote(self, store: ResultStore, index: int) -> None:
        from core.backtest.engine import BacktestEngine

        request = await store.variant_request(self.result_id, index)
        app = self.filterbets
        app.running_jobs += 1
        try:
            run = await BacktestEngine(store.db, store.user_id).run(request)
        finally:
            app.running_jobs -= 1
        self.post_message(VariantPromoted(index, run.result_id))

    @on(VariantPromoted)
    def _promoted(self, message: VariantPromoted) -> None:
        from tui.screens.results import ResultDetailScreen

        self.promoting = None
        self.notify(
            f"Variant {message.index} of sweep #{self.result_id} is result #{message.result_id}"
            " (Results: 3).",
            title="Promoted",
        )
        self.app.push_screen(ResultDetailScreen(message.result_id))

    def on_resize(self, _event: Resize) -> None:
        self.refresh_bindings()


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _p(value: float | None) -> str:
    return "-" if value is None else "<.0001" if value < 0.0001 else f"{value:.3f}"


def _money(value: Any) -> Text:
    number = None if value is None else float(value)
    return Text(fmt_units(number), justify="right", style=signed_style(number))


def _yield(value: Any) -> Text:
    number = None if value is None else float(value)
    return Text(fmt_pct(number), justify="right", style=signed_style(number))


def _walk_missing(metrics: dict[str, Any]) -> str:
    seasons = metrics.get("seasons") or []
    return (
        f"it needs bets in at least 3 seasons; these variants bet in {len(seasons)}"
        if len(seasons) < 3
        else "turned off for this sweep"
    )


__all__ = ["SweepResultScreen"]
