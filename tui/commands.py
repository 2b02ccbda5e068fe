"""The command palette's own commands (ctrl+p), built from where the user is and what the
database holds when the palette opens: the keys of the screen that apply now, the screens,
new filter, import, and for each saved filter and recent result: open, run, export.

Type a few letters of any word ("filter", "run away", "result 12", "import") to find one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.content import Content
from textual.markup import escape
from textual.screen import Screen

from core.filters import FilterInfo
from core.results import ResultStore, ResultSummary
from tui.screens.data import DataScreen
from tui.screens.filters import FiltersScreen, load_filters, run_filter
from tui.screens.results import start_export
from tui.screens.rule_editor import RuleEditorScreen, RunSettings
from tui.widgets.help import scope_name
from tui.widgets.metrics_panel import fmt_pct

if TYPE_CHECKING:
    from tui.app import FilterBetsApp

RECENT_RESULTS = 50
"""How many of the newest results get open and export commands."""


@dataclass(frozen=True)
class PaletteCommand:
    name: str
    help: str
    run: Callable[[], Awaitable[Any] | Any]


def screen_commands(app: FilterBetsApp, screen: Screen[Any]) -> list[PaletteCommand]:
    """The screen's own keys that do something now (its state decides: a job that can be
    cancelled, a result that can be exported), each as a command."""
    commands: list[PaletteCommand] = []
    seen: set[str] = set()
    for key, active in screen.active_bindings.items():
        binding = active.binding
        if active.node is not screen or not active.enabled or not binding.description:
            continue
        if binding.action in seen:
            continue
        seen.add(binding.action)

        def run(action: str = binding.action) -> Awaitable[bool]:
            return app.run_action(action, screen)

        shown = app.get_key_display(binding) or key
        commands.append(
            PaletteCommand(binding.description, f"{scope_name(screen)} · key {shown}", run)
        )
    return commands


def screen_switches(app: FilterBetsApp) -> list[PaletteCommand]:
    from tui.screens import SCREEN_MODES

    def switch(mode: str) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            await app.switch_mode(mode)

        return run

    return [
        PaletteCommand(
            f"Go to {mode.title}", f"the {mode.title} screen · key {mode.key}", switch(mode.name)
        )
        for mode in SCREEN_MODES
    ]


async def _on_filters(app: FilterBetsApp) -> FiltersScreen | None:
    """The Filters screen, with what was open over it closed; None (and why) when an editor
    over it has unsaved changes."""
    await app.switch_mode("filters")
    while len(app.screen_stack) > 1 and not isinstance(app.screen, FiltersScreen):
        editor = app.screen
        if isinstance(editor, RuleEditorScreen) and editor.dirty:
            app.notify(
                "The rule editor has unsaved changes: save them (s) or leave it (escape) first.",
                title="Filters",
                severity="warning",
            )
            return None
        await app.pop_screen()
    return app.screen if isinstance(app.screen, FiltersScreen) else None


def filter_commands(
    app: FilterBetsApp, filters: list[FilterInfo], settings: dict[int, RunSettings]
) -> list[PaletteCommand]:
    async def edit(info: FilterInfo | None) -> None:
        screen = await _on_filters(app)
        if screen is not None:
            screen.edit_filter(info)

    def run(info: FilterInfo) -> None:
        service = app.service
        if service is not None:
            run_filter(app, service, info, settings.get(info.id) or RunSettings.for_filter(info))

    commands = [PaletteCommand("New filter", "write one in the rule editor", partial(edit, None))]
    for info in filters:
        plan = settings.get(info.id) or RunSettings.for_filter(info)
        commands.append(
            PaletteCommand(
                f"Open filter {info.name}",
                "edit its rules and run settings in the rule editor",
                partial(edit, info),
            )
        )
        commands.append(
            PaletteCommand(
                f"Run filter {info.name}",
                f"backtest it as a job: {plan.describe()}",
                partial(run, info),
            )
        )
    return commands


def result_commands(app: FilterBetsApp, results: list[ResultSummary]) -> list[PaletteCommand]:
    async def export(result_id: int) -> None:
        await app.switch_mode("results")
        start_export(app.screen, result_id)

    commands = []
    for row in results:
        about = (
            f"{row.market} @ {row.odds_source}, {row.staking} · {row.bets:,} bets,"
            f" yield {fmt_pct(row.yield_)}"
        )
        commands.append(
            PaletteCommand(
                f"Open result #{row.id} {row.title}",
                about,
                partial(app.open_result, row.id),
            )
        )
        commands.append(
            PaletteCommand(
                f"Export result #{row.id} {row.title}",
                f"its bets and metrics to CSV or JSON · {about}",
                partial(export, row.id),
            )
        )
    return commands


def import_command(app: FilterBetsApp) -> PaletteCommand:
    async def run() -> None:
        await app.switch_mode("data")
        if isinstance(app.screen, DataScreen):
            app.screen.action_import_files()

    return PaletteCommand(
        "Import files", "football-data.co.uk season CSVs, on the Data screen", run
    )


class FilterBetsCommands(Provider):
    """The app's commands, read afresh each time the palette opens."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commands: list[PaletteCommand] = []

    async def startup(self) -> None:
        app = cast("FilterBetsApp", self.app)
        commands = screen_commands(app, self.screen)
        commands += screen_switches(app)
        commands.append(import_command(app))
        commands.append(PaletteCommand("Keys", "every key that works here (?)", app.action_help))
        service = app.service
        if service is not None:
            try:
                loaded = await load_filters(service)
                results = await ResultStore(service.db, service.user_id).list_results(
                    "date", limit=RECENT_RESULTS
                )
            except Exception as error:  # the palette still offers the rest
                app.report_error(error, doing="listing filters and results for the palette")
            else:
                commands += filter_commands(app, loaded.filters, loaded.settings)
                commands += result_commands(app, results)
        self.commands = commands

    # The palette reads names and help as markup: a filter named "[b]" is text, not style.

    async def discover(self) -> Hits:
        for command in self.commands:
            yield DiscoveryHit(
                Content(command.name), command.run, text=command.name, help=escape(command.help)
            )

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for command in self.commands:
            score = matcher.match(command.name)
            if score > 0:
                yield Hit(
                    score,
                    matcher.highlight(escape(command.name)),
                    command.run,
                    text=command.name,
                    help=escape(command.help),
                )
