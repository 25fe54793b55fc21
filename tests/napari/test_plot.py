"""The live plot the training widgets share."""

import pytest

from napari_medai._napari._plot import ABOVE, LivePlot


def test_plot(qtbot):
    p = LivePlot(ylabel="loss", y2label="Dice")
    qtbot.addWidget(p)
    for i in range(5):
        p.add_point("train loss", i, 1.0 / (i + 1))
        p.add_point("val Dice", i, 0.1 * i, right=True)
    p.add_point("val Dice", 6, None, right=True)
    assert p.series["train loss"][1][-1] == 0.2
    assert len(p.series["val Dice"][0]) == 5
    qtbot.wait(300)
    p.clear()
    assert not p.series


def test_the_right_axis_continues_the_colour_cycle(qtbot):
    from matplotlib import rcParams
    from matplotlib.colors import to_hex

    cycle = [to_hex(c) for c in rcParams["axes.prop_cycle"].by_key()["color"]]
    p = LivePlot(ylabel="RMSE", y2label="PSNR")
    qtbot.addWidget(p)
    p.add_point("train", 1, 3.0)
    p.add_point("val", 1, 30.0, right=True)  # a twin axis alone would restart its cycle: blue again
    assert [p.colour_of("train"), p.colour_of("val")] == cycle[:2]
    assert p.ax2.get_lines()[0].get_linestyle() == "--"
    p.clear()  # a new run starts the cycle again
    p.add_point("val", 1, 30.0, right=True)
    assert p.colour_of("val") == cycle[0]


def test_a_given_colour_is_kept_and_skipped_by_the_cycle(qtbot):
    from matplotlib import rcParams
    from matplotlib.colors import to_hex

    cycle = [to_hex(c) for c in rcParams["axes.prop_cycle"].by_key()["color"]]
    p = LivePlot(y2label="Dice")
    qtbot.addWidget(p)
    p.add_point("loss", 0, 1.0, color="#9aa7b8")
    p.add_point("Dice", 0, 0.5, right=True, color=cycle[0])
    p.add_point("other", 0, 0.7, right=True)  # the first free colour of the cycle
    assert (p.colour_of("loss"), p.colour_of("Dice"), p.colour_of("other")) == ("#9aa7b8", cycle[0], cycle[1])


@pytest.mark.parametrize("loc", ["upper right", "lower left"])
def test_legend_inside_the_axes_lists_both_axes(qtbot, loc):
    p = LivePlot(y2label="Dice", legend_loc=loc)
    qtbot.addWidget(p)
    p.add_point("loss", 0, 1.0)
    p.add_point("Dice", 0, 0.5, right=True)
    legend = p.ax2.get_legend()  # on the top axes: no right-hand curve covers it
    assert legend is p.legend and not p.figure.legends
    assert [t.get_text() for t in legend.get_texts()] == ["loss", "Dice"]
    assert legend._loc == legend.codes[loc]


def test_legend_above_the_axes_and_none(qtbot):
    p = LivePlot(y2label="Dice", legend_loc=ABOVE)
    qtbot.addWidget(p)
    for name in ("loss", "WT", "TC", "ET"):
        p.add_point(name, 0, 0.5, right=name != "loss")
    assert p.figure.legends == [p.legend] and p.ax.get_legend() is None and p.ax2.get_legend() is None
    assert [t.get_text() for t in p.legend.get_texts()] == ["loss", "WT", "TC", "ET"]
    assert p.legend._ncols == 3
    p.figure.canvas.draw()  # the legend sits above the axes, outside them
    assert p.legend.get_window_extent().y0 >= p.ax.get_window_extent().y1 - 1
    p.clear()
    assert p.legend is None and not p.figure.legends
    q = LivePlot(legend_loc=None)
    qtbot.addWidget(q)
    q.add_point("loss", 0, 1.0)
    assert q.legend is None and q.ax.get_legend() is None and not q.figure.legends


def test_empty_text_stands_in_for_ticks_until_the_first_point(qtbot):
    p = LivePlot(y2label="Dice", empty_text="no epochs yet")
    qtbot.addWidget(p)
    p.figure.canvas.draw()

    def shown_ticks():
        return [t.get_text() for ax in (p.ax, p.ax2) for t in (*ax.get_xticklabels(), *ax.get_yticklabels())
                if t.get_visible() and t.get_text()]

    assert p.is_empty and p.empty_note.get_visible() and p.empty_note.get_text() == "no epochs yet"
    assert not p.ax.yaxis.get_major_ticks()[0].label1.get_visible()
    assert not p.ax.xaxis.get_major_ticks()[0].label1.get_visible()
    assert not p.ax2.yaxis.get_major_ticks()[0].label2.get_visible()
    p.add_point("loss", 1, 0.5)
    p.figure.canvas.draw()
    assert not p.is_empty and not p.empty_note.get_visible() and shown_ticks()
    assert p.ax.yaxis.get_major_ticks()[0].label1.get_visible()
    assert p.ax2.yaxis.get_major_ticks()[0].label2.get_visible()
    assert not p.ax.yaxis.get_major_ticks()[0].label2.get_visible()
    p.clear()  # a new run: the text again
    assert p.is_empty and p.empty_note.get_visible()
    q = LivePlot()  # without empty_text: plain axes, no text
    qtbot.addWidget(q)
    assert q.empty_note is None and q.is_empty


def test_points_inside_the_limits_are_blitted_and_limits_grow_with_headroom(qtbot):
    p = LivePlot(y2label="Dice", min_redraw_s=0.0)
    qtbot.addWidget(p)
    p.show()
    qtbot.waitExposed(p)
    for i in range(10):
        p.add_point("loss", i, 1.0 - 0.05 * i)
    p.add_point("Dice", 1, 0.5, right=True)
    full = p.draws["full"]
    x0, y0 = p.ax.get_xlim(), p.ax.get_ylim()
    p.add_point("loss", 8.5, 0.8)  # inside the drawn limits: only the lines are drawn again
    assert p.draws["full"] == full and p.draws["blit"] >= 1
    assert (p.ax.get_xlim(), p.ax.get_ylim()) == (x0, y0)
    p.add_point("loss", 20, 0.2)  # outside: the limits grow past the point (headroom), one full draw
    assert p.draws["full"] == full + 1
    assert p.ax.get_xlim()[1] > 20 + 0.4 * (20 - x0[0]) and p.ax.get_ylim()[0] < 0.2
    assert p.ax.get_xlim()[0] == x0[0] and p.ax.get_ylim()[1] == y0[1]  # the other ends stay
    p.fit()  # a finished run: the limits hug the data again
    assert p.ax.get_xlim()[1] <= 21 and p.draws["full"] == full + 2  # 20 + the 5 % margin
    p.clear()  # a new run starts from its own data
    p.add_point("loss", 0, 5.0)
    p.add_point("loss", 1, 6.0)
    assert p.ax.get_ylim()[1] < 7 and p.ax.get_xlim()[1] < 2


def test_the_figure_is_made_at_the_first_point_with_the_labels_and_styles_given_before(qtbot):
    p = LivePlot(ylabel="loss", y2label="Dice", empty_text="no epochs yet")
    qtbot.addWidget(p)
    p.show()
    qtbot.waitExposed(p)
    styled = []
    p.when_built(lambda plot: (plot.ax2.set_ylim(0.0, 1.0), styled.append(plot)))
    p.set_axis_labels(y2label="validation AUC")
    p.clear()
    p.fit()
    assert not p.built and not styled and p.placeholder.text() == "no epochs yet" and p.placeholder.isVisible()
    p.add_point("loss", 1, 0.5)
    assert p.built and styled == [p] and p.canvas.isVisible() and not p.placeholder.isVisible()
    assert p.ax2.get_ylabel() == "validation AUC" and p.ax2.get_ylim() == (0.0, 1.0)
    assert p.ax.get_ylabel() == "loss" and not p.empty_note.get_visible() and p.draws["full"] == 1
    p.when_built(lambda plot: styled.append("at once"))  # made already: runs now
    assert styled == [p, "at once"]
