"""The packet's charts: what a confusion heatmap draws when a suite has many labels."""

from __future__ import annotations

from evalkit.report.charts import confusion_chart, focus_labels, route_colours

SPECIAL = ["__unparsed__", "__error__"]


def confusion_of(n_labels: int, off_diagonal: dict[tuple[int, int], int]) -> dict:
    labels = [f"l{i:02d}" for i in range(n_labels)]
    columns = [*labels, *SPECIAL]
    matrix = [[5 if i == j else 0 for j in range(len(columns))] for i in range(n_labels)]
    for (i, j), count in off_diagonal.items():
        matrix[i][j] = count
    return {"labels": labels, "columns": columns, "matrix": matrix}


def test_a_heatmap_of_many_labels_keeps_those_with_the_most_confusions_in_suite_order():
    baseline = confusion_of(30, {(12, 30): 2, (3, 7): 4})  # l12 unparsed twice; l03 taken for l07
    candidate = confusion_of(30, {(20, 21): 1})
    assert focus_labels([baseline, candidate], limit=5)[:3] == ["l03", "l07", "l12"]
    assert len(focus_labels([baseline, candidate], limit=5)) == 5


def test_a_heatmap_of_few_labels_keeps_them_all():
    assert focus_labels([confusion_of(4, {(0, 1): 3})]) == ["l00", "l01", "l02", "l03"]


def test_a_restricted_heatmap_draws_only_the_kept_labels_and_the_unparsed_and_error_columns():
    svg = confusion_chart(confusion_of(30, {(3, 7): 4}), "baseline", keep=["l03", "l07"])
    assert ">l03<" in svg and ">l07<" in svg and ">l11<" not in svg and ">unparsed<" in svg


def test_every_route_gets_a_colour_however_many_routes_there_are():
    names = ["base", *(f"layer{i}" for i in range(20)), "tuned"]
    colours = route_colours(names, "base", "tuned")
    assert set(colours) == set(names) and colours["layer0"] == colours["layer4"] != colours["layer1"]
