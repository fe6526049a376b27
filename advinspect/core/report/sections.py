"""Report sections: how any verb's result becomes part of a report, written once.

The attack report (`build.py`) is built around per-sample cards. The other verbs (poison,
sanitize, scan, membership, extract, invert, synthesize, DRO, purification, and every run the
workbench keeps) describe themselves as a `Section`: summary lines, tables and figures. A
`Result` that can be reported has `report_section() -> Section`; `write_sections_report` turns a
list of sections into one self-contained HTML file (figures inlined), written atomically, and
`sections_to_dict` / `sections_from_dict` keep them in JSON (figures as PNG files next to it)
so a report can be rebuilt without rerunning anything.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from advinspect.core.report.errors import ReportError


@dataclass
class Table:
    """Rows of plain values (numbers, strings, None); `columns` names each position."""

    columns: list[str]
    rows: list[list[Any]]
    caption: str = ""


@dataclass
class Figure:
    """A PNG (bytes) with a caption. Build it with `figure_from_matplotlib` or `figure_from_array`."""

    caption: str
    png: bytes


@dataclass
class Section:
    title: str
    lines: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    command: str = ""  # the equivalent CLI command, for the "reproduce" part of a report


def figure_from_matplotlib(fig: Any, caption: str) -> Figure:
    """Render a matplotlib figure (Agg) to PNG bytes and close it."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return Figure(caption, buffer.getvalue())


def figure_from_array(pixels: Any, caption: str, *, scale: int = 1) -> Figure:
    """An image grid or single image: (H, W), (H, W, C) or (C, H, W) floats in [0, 1] or uint8."""
    import numpy as np
    from PIL import Image

    a = np.asarray(pixels)
    if a.ndim == 3 and a.shape[0] in (1, 3) and a.shape[-1] not in (1, 3):
        a = a.transpose(1, 2, 0)
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    if a.dtype != np.uint8:
        a = (np.clip(np.nan_to_num(a.astype(np.float64)), 0.0, 1.0) * 255 + 0.5).astype(np.uint8)
    image = Image.fromarray(a)
    if scale > 1:
        image = image.resize((image.width * scale, image.height * scale), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return Figure(caption, buffer.getvalue())


def image_grid(images: Any, columns: int, pad: int = 1) -> Any:
    """Tile (N, C, H, W) or (N, H, W) images in [0, 1] into one (H', W', C) array, white padding."""
    import numpy as np

    a = np.asarray(images, dtype=np.float32)
    if a.ndim == 3:
        a = a[:, None]
    n, c, h, w = a.shape
    columns = max(1, min(columns, n))
    rows = (n + columns - 1) // columns
    grid = np.ones((rows * (h + pad) + pad, columns * (w + pad) + pad, c), dtype=np.float32)
    for i in range(n):
        r, k = divmod(i, columns)
        top, left = pad + r * (h + pad), pad + k * (w + pad)
        grid[top:top + h, left:left + w] = a[i].transpose(1, 2, 0)
    return grid


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}"
    return html.escape(str(value))


def section_html(section: Section) -> str:
    parts = [f"<section><h2>{html.escape(section.title)}</h2>"]
    if section.lines:
        parts.append("<ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in section.lines) + "</ul>")
    for table in section.tables:
        parts.append("<table>")
        if table.caption:
            parts.append(f"<caption>{html.escape(table.caption)}</caption>")
        parts.append("<tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in table.columns) + "</tr>")
        for row in table.rows:
            parts.append("<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in row) + "</tr>")
        parts.append("</table>")
    for figure in section.figures:
        uri = "data:image/png;base64," + base64.b64encode(figure.png).decode("ascii")
        parts.append(f'<figure><img src="{uri}" alt="{html.escape(figure.caption)}">'
                     f"<figcaption>{html.escape(figure.caption)}</figcaption></figure>")
    if section.command:
        parts.append(f"<p>Reproduce:</p><pre>{html.escape(section.command)}</pre>")
    parts.append("</section>")
    return "".join(parts)


STYLE = ("body{font-family:sans-serif;max-width:60em;margin:2em auto;color:#222}"
         "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bbb;padding:2px 8px;"
         "text-align:right}th{background:#eee}caption{text-align:left;font-weight:bold}"
         "figure{display:inline-block;margin:0.5em}img{max-width:100%;image-rendering:pixelated}"
         "pre{background:#f4f4f4;padding:0.5em;white-space:pre-wrap}")


def sections_html(title: str, sections: Sequence[Section]) -> str:
    body = "".join(section_html(s) for s in sections)
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>{body}</body></html>")


def write_sections_report(title: str, sections: Sequence[Section], path: str | Path) -> Path:
    """Write one self-contained HTML file atomically (a temporary file, then a rename)."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".part")
        tmp.write_text(sections_html(title, sections), encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        raise ReportError(f"cannot write the report {path}: {exc.strerror or exc}") from exc
    return path


def sections_to_dict(sections: Sequence[Section], figure_dir: str | Path) -> list[dict[str, Any]]:
    """JSON-safe form; each figure's PNG is written into `figure_dir` and named by its path."""
    figure_dir = Path(figure_dir)
    out = []
    for i, s in enumerate(sections):
        figures = []
        for k, f in enumerate(s.figures):
            figure_dir.mkdir(parents=True, exist_ok=True)
            name = f"section{i:02d}_figure{k:02d}.png"
            (figure_dir / name).write_bytes(f.png)
            figures.append({"caption": f.caption, "file": name})
        out.append({"title": s.title, "lines": list(s.lines), "command": s.command, "figures": figures,
                    "tables": [{"columns": t.columns, "rows": t.rows, "caption": t.caption} for t in s.tables]})
    return out


def sections_from_dict(data: Sequence[dict[str, Any]], figure_dir: str | Path) -> list[Section]:
    figure_dir = Path(figure_dir)
    sections = []
    for d in data:
        figures = []
        for f in d.get("figures", []):
            name = Path(str(f["file"])).name  # never a path outside figure_dir
            figures.append(Figure(str(f.get("caption", "")), (figure_dir / name).read_bytes()))
        tables = [Table([str(c) for c in t["columns"]], [list(r) for r in t["rows"]], str(t.get("caption", "")))
                  for t in d.get("tables", [])]
        sections.append(Section(str(d["title"]), [str(x) for x in d.get("lines", [])], tables, figures,
                                str(d.get("command", ""))))
    return sections
