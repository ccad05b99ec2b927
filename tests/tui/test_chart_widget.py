"""LineChart driven through a tiny host app: keys, mouse, messages, live appends and edge cases."""

from __future__ import annotations

import re

import numpy as np
import pytest
from textual import events
from textual.app import App, ComposeResult
from textual.widgets import Footer

from tracker.tui.widgets.chart import ChartSeries, LineChart

SIZE = (100, 30)


class ChartApp(App[None]):
    """Hosts one chart and records the messages it posts."""

    def __init__(self, series: list[ChartSeries] | None = None, debounce: float = 0.0) -> None:
        super().__init__()
        self.series = series or []
        self.debounce = debounce
        self.views: list[LineChart.ViewChanged] = []
        self.cursors: list[LineChart.CursorMoved] = []

    def compose(self) -> ComposeResult:
        chart = LineChart(self.series, title="loss")
        chart.VIEW_DEBOUNCE_S = self.debounce
        yield chart
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(LineChart).focus()

    def on_line_chart_view_changed(self, message: LineChart.ViewChanged) -> None:
        self.views.append(message)

    def on_line_chart_cursor_moved(self, message: LineChart.CursorMoved) -> None:
        self.cursors.append(message)


def curves(n: int = 1_000, k: int = 2) -> list[ChartSeries]:
    x = np.arange(n, dtype=np.float64)
    return [ChartSeries(f"run-{i}", x, 2.0 * np.exp(-x / (n / 3)) + 0.1 * (i + 1), color=i)
            for i in range(k)]


def lines(chart: LineChart) -> list[str]:
    return [strip.text for strip in chart.render_frame()]


def braille_cells(chart: LineChart) -> int:
    return sum(1 for line in lines(chart) for ch in line if 0x2801 <= ord(ch) <= 0x28FF)


async def test_empty_chart_shows_a_hint() -> None:
    app = ChartApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        chart = app.query_one(LineChart)
        assert any("no data to plot" in line for line in lines(chart))
        await pilot.press("plus", "left", "L", "s", "0")  # keys on an empty chart do no harm
        assert chart.view is None


async def test_draws_curves_axes_and_a_legend() -> None:
    app = ChartApp(curves())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        chart = app.query_one(LineChart)
        text = lines(chart)
        assert len(text) == chart.size.height and all(len(t) == chart.size.width for t in text)
        assert text[0].startswith("loss")
        assert "■ run-0 0.1" in text[1] and "■ run-1 0.2" in text[1]  # last values
        assert braille_cells(chart) > 100
        assert any("┤" in t for t in text) and any(t.lstrip().startswith("└") for t in text)
        assert text[-1].rstrip().endswith("step") and " 0 " in f" {text[-1]}"


async def test_names_are_shown_literally() -> None:
    evil = "[bold red]x\x1b[2J"
    app = ChartApp([ChartSeries(evil, np.arange(3.0), np.ones(3))])
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        chart = app.query_one(LineChart)
        legend = lines(chart)[1]
        assert "[bold red]x␛[2J" in legend and "\x1b" not in "".join(lines(chart))


async def test_keys_zoom_pan_reset_and_post_view_changed(ui) -> None:
    app = ChartApp(curves())
    async with app.run_test(size=SIZE) as pilot:
        chart = app.query_one(LineChart)
        await pilot.press("plus")
        x0, x1 = chart.view
        assert x1 - x0 == pytest.approx(999 / 2) and (x0 + x1) / 2 == pytest.approx(499.5)
        await ui.wait_for(pilot, lambda: app.views)
        assert (app.views[-1].x_min, app.views[-1].x_max) == (x0, x1)
        assert app.views[-1].control is chart
        await pilot.press("right_square_bracket")
        assert chart.view[0] == pytest.approx(x0 + (x1 - x0) / 4)
        await pilot.press("right_square_bracket", "right_square_bracket", "shift+right")
        assert chart.view[1] == pytest.approx(999.0)  # panning stops at the data's end
        await pilot.press("left_square_bracket")
        assert chart.view[1] < 999.0
        await pilot.press("minus")
        assert chart.view is None  # zoomed back out to everything
        await pilot.press("plus", "plus", "0")
        assert chart.view is None
        await ui.wait_for(pilot, lambda: app.views[-1].x_max == 999.0)


async def test_view_changes_are_debounced(ui) -> None:
    app = ChartApp(curves(), debounce=0.1)
    async with app.run_test(size=SIZE) as pilot:
        chart = app.query_one(LineChart)
        for _ in range(3):  # a burst, like a flick of the mouse wheel
            chart.zoom(2.0)
        await ui.wait_for(pilot, lambda: app.views)
        assert len(app.views) == 1 and app.views[0].x_max - app.views[0].x_min == pytest.approx(
            999 / 8)
        assert chart.window() == (app.views[0].x_min, app.views[0].x_max)
        assert chart._view_timer is None  # nothing pending: no second message will follow


async def test_crosshair_reads_out_every_series() -> None:
    app = ChartApp(curves())
    async with app.run_test(size=SIZE) as pilot:
        chart = app.query_one(LineChart)
        await pilot.press("right")
        assert chart.cursor_x == 500.0  # the middle of 0..999, on a whole step
        await pilot.press("right")
        assert chart.cursor_x > 500.0
        await pilot.pause()
        msg = app.cursors[-1]
        i = int(round(chart.cursor_x))
        assert set(msg.values) == {"run-0", "run-1"}
        assert msg.values["run-1"] == pytest.approx(2.0 * np.exp(-i / 333.33) + 0.2, rel=1e-2)
        header = lines(chart)[0]
        assert "step 5" in header  # the crosshair's x
        assert any("┴" in line or "┼" in line for line in lines(chart))
        await pilot.press("escape")
        assert chart.cursor_x is None and app.cursors[-1].x is None


async def test_log_y_and_smoothing_keys() -> None:
    app = ChartApp(curves())
    async with app.run_test(size=SIZE) as pilot:
        chart = app.query_one(LineChart)
        await pilot.press("L", "s", "s")
        await pilot.pause()
        assert chart.log_y and chart.smoothing == 0.8
        assert "log y · smoothing 0.8" in lines(chart)[0]
        await pilot.press("S")
        assert chart.smoothing == 0.6
        for _ in range(10):
            await pilot.press("s")
        assert chart.smoothing == 0.999
        await pilot.press("L")
        assert not chart.log_y


async def test_smoothing_draws_the_raw_curve_dimmed_underneath() -> None:
    x = np.arange(400, dtype=np.float64)
    y = np.random.default_rng(0).normal(size=400)
    app = ChartApp([ChartSeries("noisy", x, y)])
    async with app.run_test(size=SIZE) as pilot:
        chart = app.query_one(LineChart)
        chart.smoothing = 0.99
        await pilot.pause()
        colours = {seg.style.color for strip in chart.render_frame() for seg in strip
                   if seg.text.strip() and 0x2800 <= ord(seg.text.strip()[0]) <= 0x28FF}
        assert len(colours) == 2  # the bright EMA and the dimmed raw curve


async def test_mouse_wheel_zooms_around_the_pointer_and_click_places_the_crosshair() -> None:
    app = ChartApp(curves())
    async with app.run_test(size=SIZE) as pilot:
        chart = app.query_one(LineChart)
        await pilot.pause()
        geom = chart._geometry
        cell = geom.left + geom.cols // 4
        under = geom.x_at(cell)
        app.post_message(events.MouseScrollUp(chart, cell, 10, 0, 0, 0, False, False, False,
                                              screen_x=cell, screen_y=10))
        await pilot.pause()
        x0, x1 = chart.view
        assert x1 - x0 == pytest.approx(999 / 1.25)
        assert (under - x0) / (x1 - x0) == pytest.approx((under - 0) / 999)  # pointer x stays put
        await pilot.click(LineChart, offset=(cell, 10))
        assert chart.cursor_x == round(chart._geometry.x_at(cell))  # on the nearest step


async def test_crosshair_reads_whole_steps() -> None:
    # 1000 steps over ~90 columns: a column is ~11.2 steps, so the crosshair used to sit on
    # fractional steps and read "step 511.2".
    app = ChartApp(curves())
    async with app.run_test(size=SIZE) as pilot:
        chart = app.query_one(LineChart)
        for _ in range(7):
            await pilot.press("right")
            await pilot.pause()
            assert chart.cursor_x is not None and chart.cursor_x == int(chart.cursor_x)
            assert re.search(r"step \d+(\s|$)", lines(chart)[0]), lines(chart)[0]
        await pilot.click(LineChart, offset=(33, 10))
        assert chart.cursor_x == int(chart.cursor_x)
        for _ in range(6):  # zoomed in to under a step per column, keys still move a step
            await pilot.press("plus")
        before = chart.cursor_x
        await pilot.press("right")
        assert chart.cursor_x == before + 1
        await pilot.press("left", "left")
        assert chart.cursor_x == before - 1
        chart.x_label = "wall time"  # time axes keep fractional x
        chart.cursor_x = 12.25
        assert chart.cursor_x == 12.25


async def test_a_flat_series_is_labelled_around_its_value() -> None:
    x = np.arange(100, dtype=np.float64)
    for value, labels in ((0.0, {"-1", "0", "1"}), (0.5, {"0", "0.5", "1"}),
                          (1e-3, {"0", "0.001", "0.002"}), (-3.0, {"-6", "-3", "0"})):
        app = ChartApp([ChartSeries("flat", x, np.full(100, value))])
        async with app.run_test(size=SIZE) as pilot:
            chart = app.query_one(LineChart)
            await pilot.pause()
            shown = {line.split("┤")[0].strip() for line in lines(chart) if "┤" in line}
            assert labels <= shown, shown
            assert not any("e-" in label for label in shown), shown  # no float-noise ticks


async def test_drag_pans_the_window() -> None:
    app = ChartApp(curves())
    async with app.run_test(size=SIZE) as pilot:
        chart = app.query_one(LineChart)
        await pilot.press("plus")
        x0, x1 = chart.view
        await pilot.mouse_down(LineChart, offset=(50, 10))
        app.post_message(events.MouseMove(chart, 40, 10, 0, 0, 1, False, False, False,
                                          screen_x=40, screen_y=10))
        await pilot.pause()
        await pilot.mouse_up(LineChart, offset=(40, 10))
        nx0, nx1 = chart.view
        assert nx1 - nx0 == pytest.approx(x1 - x0)
        assert nx0 > x0  # dragging left moves the window right, like grabbing the paper
        assert chart.cursor_x is None  # a drag is not a click


async def test_live_appends_extend_the_curve() -> None:
    app = ChartApp(curves(100, k=1))
    async with app.run_test(size=SIZE) as pilot:
        chart = app.query_one(LineChart)
        await pilot.pause()
        assert chart.window() == (0.0, 99.0)
        assert chart.append_points("run-0", np.arange(100.0, 200.0), np.full(100, 7.0))
        assert not chart.append_points("no-such-run", np.ones(1), np.ones(1))
        await pilot.pause()
        assert chart.window() == (0.0, 199.0)
        assert "■ run-0 7" in lines(chart)[1]
        assert any(line.lstrip().startswith("7") for line in lines(chart))  # y rescaled to 7


async def test_set_series_keep_view_keeps_zoom_and_crosshair() -> None:
    app = ChartApp(curves())
    async with app.run_test(size=SIZE) as pilot:
        chart = app.query_one(LineChart)
        await pilot.press("plus", "right")
        view, cursor = chart.view, chart.cursor_x
        chart.set_series(curves(), keep_view=True)
        assert (chart.view, chart.cursor_x) == (view, cursor)
        chart.set_series(curves())
        assert chart.view is None and chart.cursor_x is None


@pytest.mark.parametrize(("name", "y", "expect"), [
    ("one point", np.array([3.0]), "3"),
    ("all nan", np.full(50, np.nan), "no finite values in view"),
    ("constant", np.full(50, 2.5), "2.5"),
    ("with inf", np.r_[np.arange(10.0), np.inf, -np.inf, np.arange(10.0)], "2 ±inf not shown"),
])
async def test_edge_cases_draw_without_errors(name: str, y: np.ndarray, expect: str) -> None:
    app = ChartApp([ChartSeries(name, np.arange(float(len(y))), y)])
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        chart = app.query_one(LineChart)
        assert any(expect in line for line in lines(chart)), "\n".join(lines(chart))
        await pilot.press("plus", "right", "L", "s")
        await pilot.pause()
        assert len(lines(chart)) == chart.size.height


async def test_log_y_drops_non_positive_values_with_a_note() -> None:
    x = np.arange(100.0)
    app = ChartApp([ChartSeries("signed", x, np.sin(x / 10) * 10)])
    async with app.run_test(size=SIZE) as pilot:
        chart = app.query_one(LineChart)
        await pilot.press("L")
        await pilot.pause()
        hidden = int(np.count_nonzero(np.sin(x / 10) * 10 <= 0))
        assert f"{hidden} values ≤ 0 not shown" in lines(chart)[0]
        assert braille_cells(chart) > 20


@pytest.mark.parametrize("size", [(80, 24), (200, 50), (40, 6), (20, 3)])
async def test_any_terminal_size_renders_full_lines(size: tuple[int, int]) -> None:
    app = ChartApp(curves())
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        chart = app.query_one(LineChart)
        text = lines(chart)
        assert len(text) == chart.size.height
        assert all(len(t) == chart.size.width for t in text)


async def test_bindings_are_described_for_the_footer() -> None:
    app = ChartApp(curves())
    async with app.run_test(size=(200, 30)) as pilot:
        await pilot.pause()
        keys = {b.key: b.description for _, b, *_ in app.active_bindings.values()}
        for key in ("plus", "minus", "left_square_bracket", "right_square_bracket", "left",
                    "right", "0", "L", "s", "S"):
            assert keys.get(key), key


async def test_a_kept_view_reload_of_only_the_window_can_still_pan_and_zoom_out() -> None:
    app = ChartApp(curves())
    async with app.run_test(size=SIZE) as pilot:
        chart = app.query_one(LineChart)
        await pilot.press("plus", "plus")
        x0, x1 = chart.view
        # The screen re-reads reduced data for just the window (as on ViewChanged) and keeps it.
        inside = [ChartSeries(s.name, s.x[int(x0):int(x1) + 1], s.y[int(x0):int(x1) + 1],
                              color=s.color) for s in curves()]
        chart.set_series(inside, keep_view=True)
        assert chart.x_bounds == (0.0, 999.0)
        await pilot.press("left_square_bracket")
        assert chart.view[0] < x0  # panning leaves the loaded window
        await pilot.press("minus", "minus")
        assert chart.view is None and chart.window() == (0.0, 999.0)
        chart.set_series(inside)  # a fresh load forgets the old range
        assert chart.x_bounds == (float(int(x0)), float(int(x1)))


@pytest.mark.parametrize(("label", "pattern"), [
    ("wall time", r"\d\d:\d\d"), ("time since start (s)", r"\d+m(\d\ds)?\b"), ("step", r"\b2k\b"),
])
async def test_x_labels_follow_the_kind_of_x(label: str, pattern: str) -> None:
    import re

    x = np.linspace(1.7e9, 1.7e9 + 3_000, 50) if label == "wall time" else np.linspace(0, 3_000, 50)
    app = ChartApp([ChartSeries("a", x, np.sin(x))])
    async with app.run_test(size=SIZE) as pilot:
        chart = app.query_one(LineChart)
        chart.x_label = label
        await pilot.pause()
        assert re.search(pattern, lines(chart)[-1]), lines(chart)[-1]


async def test_escape_hides_the_crosshair_first_then_reaches_the_screen() -> None:
    class BackApp(ChartApp):
        BINDINGS = [("escape", "back", "Back")]
        backs = 0

        def action_back(self) -> None:
            self.backs += 1

    app = BackApp(curves())
    async with app.run_test(size=SIZE) as pilot:
        chart = app.query_one(LineChart)
        await pilot.press("right", "escape")
        assert chart.cursor_x is None and app.backs == 0
        await pilot.press("escape")
        assert app.backs == 1


@pytest.mark.parametrize(("height", "legend_rows"), [(12, 1), (20, 2)])
async def test_a_long_legend_wraps_then_counts_what_is_left(height: int,
                                                            legend_rows: int) -> None:
    app = ChartApp(curves(100, k=12))
    async with app.run_test(size=(80, height + 1)) as pilot:  # +1 for the footer
        await pilot.pause()
        chart = app.query_one(LineChart)
        text = lines(chart)
        shown = sum(line.count("■ run-") for line in text[1 : 1 + legend_rows])
        more = text[legend_rows].rstrip().rsplit("+", 1)[-1]
        assert more == f"{12 - shown} more" and "■" not in text[1 + legend_rows]


async def test_a_one_step_spike_in_a_million_points_is_drawn() -> None:
    n = 1_000_000
    x = np.arange(n, dtype=np.float64)
    y = np.random.default_rng(5).normal(1.0, 0.01, n)
    y[777_777] = 50.0
    app = ChartApp([ChartSeries("big", x, y)])
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        chart = app.query_one(LineChart)
        geom = chart._geometry
        col = geom.left + int(777_777 / (n - 1) * geom.cols)
        plot = lines(chart)[geom.top : geom.top + geom.rows]
        lit = [[i for i, ch in enumerate(row) if 0x2801 <= ord(ch) <= 0x28FF] for row in plot]
        highest = next(cells for cells in lit if cells)  # only the spike reaches this high
        assert all(abs(i - col) <= 1 for i in highest), (highest, col)
        assert sum(1 for cells in lit if cells and all(abs(i - col) <= 1 for i in cells)) > 10


async def test_a_theme_change_restyles_the_chart() -> None:
    app = ChartApp(curves())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        chart = app.query_one(LineChart)
        before = list(chart.render_frame()[5])[0].style.bgcolor
        app.theme = "textual-light"
        await pilot.pause()
        after = list(chart.render_frame()[5])[0].style.bgcolor
        assert before != after
