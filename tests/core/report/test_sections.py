"""Report sections: any verb's result as lines, tables and figures in one HTML file."""

from __future__ import annotations

import numpy as np

from advinspect.core.report.sections import (
    Section,
    Table,
    figure_from_array,
    image_grid,
    sections_from_dict,
    sections_to_dict,
    write_sections_report,
)


def test_section_round_trip_and_html(tmp_path):
    grid = image_grid(np.random.default_rng(0).random((5, 1, 8, 8)), columns=3)
    assert grid.shape == (2 * 9 + 1, 3 * 9 + 1, 1)
    section = Section("Scan <model>", ["flagged: 3"], [Table(["class", "index"], [[3, 4.25], [1, None]])],
                      [figure_from_array(grid, "triggers", scale=2)], command="advinspect scan m.pt2 x")
    data = sections_to_dict([section], tmp_path / "fig")
    back = sections_from_dict(data, tmp_path / "fig")
    assert back[0].figures[0].png == section.figures[0].png
    assert back[0].tables[0].rows == [[3, 4.25], [1, None]]
    html = write_sections_report("r", back, tmp_path / "report.html").read_text()
    assert "Scan &lt;model&gt;" in html and "data:image/png;base64," in html and "4.25" in html
    assert "<model>" not in html
