"""The live plot the training widgets share."""

from napari_medai._napari._plot import LivePlot


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
