"""The command palette (ctrl+p): the app's own commands, from the screen's state and the
database, on SQLite and PostgreSQL at 80x24 (issue 14 item 18)."""

from __future__ import annotations

from typing import Any

from textual.command import CommandList, CommandPalette
from textual.pilot import Pilot
from textual.widgets import HelpPanel

from core.config import Settings
from core.filters import FilterStore
from core.jobs.queue import JobQueue
from core.results import ResultStore
from core.services import FilterBetsService
from tests.jobs_support import seed_small, small_request
from tests.test_tui_data import plain, settle, wait_for
from tests.test_tui_results import AWAY, HOME, run_filter, seed_season
from tui.app import FilterBetsApp
from tui.screens.data import DataScreen
from tui.screens.jobs import JobsScreen
from tui.screens.results import ResultDetailScreen
from tui.screens.rule_editor import RuleEditorScreen
from tui.widgets.help import HelpScreen
from tui.widgets.import_prompt import ImportPrompt

SIZE = (80, 24)


async def palette(pilot: Pilot[Any], query: str) -> list[str]:
    """Open the palette, type `query`, and return the commands it offers, best first."""
    app = pilot.app
    await settle(pilot)
    await pilot.press("ctrl+p")
    await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette), "the palette")
    await pilot.press(*query)
    commands = app.screen.query_one(CommandList)
    await wait_for(pilot, lambda: commands.option_count > 0, f"commands for {query!r}")
    await settle(pilot)
    return [  # the name; the help is the line under it
        plain(commands.get_option_at_index(i).prompt).splitlines()[0]
        for i in range(commands.option_count)
    ]


async def run_command(pilot: Pilot[Any], query: str, name: str) -> None:
    """Find `name` with `query` in the palette and run it."""
    offered = await palette(pilot, query)
    assert name in offered, offered
    commands = pilot.app.screen.query_one(CommandList)
    commands.highlighted = offered.index(name)
    await pilot.press("enter")
    await settle(pilot)


async def test_the_palette_finds_filters_results_screens_and_one_help(
    service: FilterBetsService, settings: Settings
) -> None:
    await seed_season(service)
    away = await run_filter(service, "Away value", AWAY, "away")
    await run_filter(service, "Home short", HOME, "home")
    await FilterStore(service.db, service.user_id).create("[b]not bold[/b] [odd", HOME)
    app = FilterBetsApp(settings, service=service)
    async with app.run_test(size=SIZE) as pilot:
        # "filter" finds what there is to do with filters (Textual's defaults found nothing).
        offered = await palette(pilot, "filter")
        for name in (
            "New filter",
            "Open filter Away value",
            "Run filter Away value",
            "Open filter Home short",
            "Run filter Home short",
            "Open filter [b]not bold[/b] [odd",  # a name, not markup
        ):
            assert name in offered, offered
        await pilot.press("escape")

        # Run a filter: its saved (here: last run's) settings, a new result.
        before = len(await ResultStore(service.db, service.user_id).list_results())
        await run_command(pilot, "run filter home", "Run filter Home short")
        await wait_for(pilot, lambda: app.running_jobs == 0, "the backtest")
        results = await ResultStore(service.db, service.user_id).list_results()
        assert len(results) == before + 1
        assert (results[0].title, results[0].market) == ("Home short", "home")

        # Open a result: its detail, from whichever screen.
        await run_command(pilot, f"result #{away}", f"Open result #{away} Away value")
        assert isinstance(app.screen, ResultDetailScreen) and app.screen.result_id == away
        assert any(n.startswith("Export result #") for n in await palette(pilot, "export"))
        await pilot.press("escape")

        # Open a filter: the rule editor on it.
        await run_command(pilot, "open filter away", "Open filter Away value")
        editor = app.screen
        assert isinstance(editor, RuleEditorScreen)
        assert editor.saved is not None and editor.saved.name == "Away value"
        await pilot.press("escape")
        await settle(pilot)

        # Switch screen, then import from anywhere.
        await run_command(pilot, "go to jobs", "Go to Jobs")
        assert isinstance(app.screen, JobsScreen)
        await run_command(pilot, "import", "Import files")
        assert isinstance(app.screen, ImportPrompt)
        assert isinstance(app.screen_stack[-2], DataScreen)
        await pilot.press("escape")

        # One help: the palette's Keys is ?'s, not Textual's side panel.
        offered = await palette(pilot, "keys")
        assert offered.count("Keys") == 1
        await pilot.press("escape")
        await run_command(pilot, "keys", "Keys")
        assert isinstance(app.screen, HelpScreen)
        assert not app.screen_stack[-2].query(HelpPanel)


async def test_the_palette_offers_what_the_screen_can_do_now(
    service: FilterBetsService, settings: Settings
) -> None:
    """The screen's own keys that apply now: a queued job can be cancelled, not retried; a
    cancelled one the other way round."""
    await seed_small(service)
    queue = JobQueue(service.db)
    job = await queue.submit(service.user_id, small_request())
    app = FilterBetsApp(settings, service=service, run_jobs=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("2")
        jobs = app.screen
        assert isinstance(jobs, JobsScreen)
        await wait_for(pilot, lambda: jobs.select_job(job.job_id), "the job")
        offered = await palette(pilot, "job")
        assert "Cancel job" in offered and "Retry" not in offered
        await pilot.press("escape")

        await queue.cancel(job.job_id)
        jobs.poll_now()
        await wait_for(pilot, lambda: jobs.check_action("retry", ()) is True, "the cancel")
        offered = await palette(pilot, "re")
        assert "Retry" in offered and "Cancel job" not in offered
