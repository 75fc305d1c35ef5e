"""Geometry of the SVG charts: bars proportional to their numbers, limits marked, overflow flagged."""

from channels_app.core.charts import BAR_AREA, LABEL_WIDTH, column_chart, line_chart, paired_bars, seat_bar


def test_bars_share_one_scale_and_the_limit_is_marked():
    chart = paired_bars([("Phone EMEA", 35, 74, 90), ("Web desk", 20, 45, 45)])
    emea, web = chart.rows
    unit = BAR_AREA / 90  # the largest number on the chart fills the bar area
    assert emea.first_width == round(35 * unit, 1)
    assert emea.second_width == round(74 * unit, 1)
    assert emea.limit_x == LABEL_WIDTH + BAR_AREA
    assert web.limit_x == round(LABEL_WIDTH + 45 * unit, 1)
    assert not emea.over and not web.over  # exactly full is not over
    assert web.y > emea.y
    assert [t.value for t in chart.ticks] == [0, 20, 40, 60, 80]


def test_a_bar_past_its_limit_is_flagged_and_short_means_second_below_first():
    over, short = paired_bars([("Over", 10, 12, 11), ("Short", 20, 15, 30)]).rows
    assert over.over and not over.short
    assert short.short and not short.over


def test_an_empty_chart_still_has_a_size():
    chart = paired_bars([])
    assert chart.rows == [] and chart.height > 0 and [t.value for t in chart.ticks] == [0, 1]


def test_seat_bar_stacks_arrivals_on_the_agents_already_there():
    bar = seat_bar(occupied=30, after=45, capacity=60, width=120)
    assert (bar.occupied_width, bar.incoming_x, bar.incoming_width, bar.over) == (60.0, 60.0, 30.0, False)
    full = seat_bar(occupied=50, after=70, capacity=60, width=140)
    assert full.over and full.occupied_width + full.incoming_width == 140  # scaled to the larger number


def test_columns_are_proportional_to_their_counts_and_the_tallest_fills_the_plot():
    counts = [("00:00", 0), ("01:00", 5), ("02:00", 10), ("03:00", 2)]
    columns, peak = column_chart(counts, left=28, top=28, plot_width=400, plot_height=124, gap=1)
    assert peak == 10
    assert [c.n for c in columns] == [0, 5, 10, 2] and [c.at for c in columns] == ["00:00", "01:00", "02:00", "03:00"]
    assert [c.height for c in columns] == [0, 62.0, 124.0, 24.8]
    # Every column stands on the same baseline, left to right, one step apart, a gap between.
    assert {c.y + c.height for c in columns} == {28 + 124}
    assert [c.x for c in columns] == [28, 128, 228, 328] and {c.width for c in columns} == {99}


def test_an_empty_hour_keeps_its_minimum_height_and_no_counts_draw_no_division_by_zero():
    columns, peak = column_chart(
        [("a", 0), ("b", 0)], left=0, top=4, plot_width=40, plot_height=70, gap=4, min_height=2
    )
    assert peak == 1
    assert [(c.x, c.y, c.width, c.height) for c in columns] == [(0, 72, 16, 2), (20, 72, 16, 2)]
    assert column_chart([], left=0, top=0, plot_width=10, plot_height=10, gap=1) == ([], 1)


def test_lines_share_one_scale_and_the_peak_reaches_the_top():
    chart = line_chart(["a", "b", "c"], [("landed", [0, 4, 2]), ("chose", [0, 1, 1])], width=240, height=140, right=8)
    landed, chose = chart.lines
    assert chart.peak == 4 and chart.base == 112  # 140 - 28 below the plot
    assert [p.x for p in landed.points] == [40, 136, 232]  # from left to width - 8
    assert [p.y for p in landed.points] == [112, 12, 62]  # top = 12: the peak touches it
    assert [p.y for p in chose.points] == [112, 87, 87]
    assert landed.svg_points == "40,112 136,12 232,62"
    assert [t.value for t in chart.ticks] == [0, 1, 2, 3, 4]


def test_an_empty_line_chart_divides_by_nothing_and_labels_at_most_a_few_instants():
    chart = line_chart(list(range(30)), [("landed", [0] * 30)], max_labels=7)
    assert chart.peak == 0 and {p.y for p in chart.lines[0].points} == {chart.base}
    assert [m.value for m in chart.labels] == [0, 5, 10, 15, 20, 25]
    single = line_chart(["only"], [("landed", [3])], width=240, right=8)
    assert single.lines[0].points[0].x == 136  # a single point stands in the middle
