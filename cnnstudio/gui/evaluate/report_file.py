"""The evaluation as files to keep or share: one HTML page and a CSV of every prediction.

The page holds the metrics (each with its one-line explanation), the confusion matrix and the
training curves as embedded PNG pictures (so the page is one file that opens anywhere, offline), the
worst mistakes and the likely label errors. The pictures are rendered by the caller (Qt); this module
only writes text.
"""

from __future__ import annotations

import base64
import csv
import io
from datetime import datetime
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

from cnnstudio.gui.evaluate.metrics_table import EXPLANATIONS, percent

if TYPE_CHECKING:
    from cnnstudio.core.evaluate import EvaluationReport

WORST = 20


def predictions_csv(report: EvaluationReport) -> str:
    """One row per picture: its label, the model's answer, how sure, the loss, every probability."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    names = report.class_names
    writer.writerow(
        ["path", "label", "predicted", "correct", "confidence", "loss", *[f"p_{n}" for n in names]]
    )
    for i in range(report.num_samples):
        label, predicted = int(report.y_true[i]), int(report.y_pred[i])
        writer.writerow(
            [
                report.paths[i] if report.paths else "",
                names[label],
                names[predicted],
                "yes" if label == predicted else "no",
                f"{float(report.probs[i, predicted]):.6f}",
                f"{float(report.losses[i]):.6f}",
                *[f"{float(p):.6f}" for p in report.probs[i]],
            ]
        )
    return buffer.getvalue()


def _img(png: bytes | None, alt: str) -> str:
    if not png:
        return f"<p class='muted'>{escape(alt)}: not available.</p>"
    data = base64.b64encode(png).decode("ascii")
    return f"<img alt='{escape(alt)}' src='data:image/png;base64,{data}'>"


def split_words(split: str | None) -> str:
    return {
        "val": "validation pictures",
        "test": "test pictures",
        "train": "training pictures",
    }.get(split or "", f"pictures in {split}" if split else "pictures")


def report_html(
    report: EvaluationReport,
    *,
    project_name: str,
    confusion_png: bytes | None,
    curves_png: bytes | None,
    csv_name: str | None = None,
) -> str:
    n = report.num_samples
    title = f"{project_name}: evaluation of run {report.run or ''}".strip()
    mistakes = int((report.y_true != report.y_pred).sum())
    issues = report.label_issues()
    rows = []
    for row in report.per_class:
        rows.append(
            f"<tr><td>{escape(row['class'])}</td><td>{percent(row['precision'])}</td>"
            f"<td>{percent(row['recall'])}</td><td>{percent(row['f1'])}</td><td>{row['support']:,}</td></tr>"
        )
    for name, values in (
        ("Average, each class equal", report.macro),
        ("Average, weighted by pictures", report.weighted),
    ):
        rows.append(
            f"<tr class='avg'><td>{name}</td><td>{percent(values['precision'])}</td>"
            f"<td>{percent(values['recall'])}</td><td>{percent(values['f1'])}</td><td>{n:,}</td></tr>"
        )
    worst = []
    for item in report.top_losses(WORST):
        if item["label"] == item["predicted"]:
            continue
        worst.append(
            f"<tr><td>{escape(item['path'] or '')}</td><td>{escape(item['label'])}</td>"
            f"<td>{escape(item['predicted'])}</td><td>{item['confidence']:.1%}</td><td>{item['loss']:.3f}</td></tr>"
        )
    issue_rows = [
        f"<tr><td>{escape(item['path'] or '')}</td><td>{escape(item['label'])}</td>"
        f"<td>{escape(item['suggested'])}</td><td>{item['suggested_confidence']:.1%}</td></tr>"
        for item in issues[:50]
    ]
    explanations = "".join(f"<li>{escape(text)}</li>" for text in EXPLANATIONS.values())
    csv_link = (
        f"<p>Every prediction, with all probabilities: <a href='{escape(csv_name)}'>{escape(csv_name)}</a></p>"
        if csv_name
        else ""
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1000px; color: #222; padding: 0 1em; }}
table {{ border-collapse: collapse; margin: 0.5em 0 1.5em; }}
th, td {{ padding: 4px 10px; border-bottom: 1px solid #ddd; text-align: right; }}
th:first-child, td:first-child {{ text-align: left; }}
tr.avg td {{ font-weight: bold; }}
.muted {{ color: #777; }} img {{ max-width: 100%; }}
.big {{ font-size: 2em; font-weight: bold; }}
</style></head><body>
<h1>{escape(title)}</h1>
<p class="muted">Made by CNN Studio on {datetime.now():%Y-%m-%d %H:%M}.</p>
<p><span class="big">{percent(report.accuracy)}</span> accuracy on {n:,} {escape(split_words(report.split))}
({mistakes:,} mistakes).</p>
<h2>Metrics per class</h2>
<table><tr><th>Class</th><th>Precision</th><th>Recall</th><th>F1</th><th>Pictures</th></tr>
{"".join(rows)}</table>
<ul class="muted">{explanations}</ul>
<h2>Confusion matrix</h2>
<p class="muted">{escape(EXPLANATIONS.get("confusion", "Rows are the real classes, columns what the model said."))}</p>
{_img(confusion_png, "Confusion matrix")}
<h2>Training curves</h2>
{_img(curves_png, "Training curves")}
<h2>Worst mistakes</h2>
{"<table><tr><th>Picture</th><th>Label</th><th>Model says</th><th>Sure</th><th>Loss</th></tr>" + "".join(worst) + "</table>" if worst else "<p>No mistakes.</p>"}
<h2>Likely label errors ({len(issues)})</h2>
<p class="muted">Pictures whose label the model strongly doubts; worth a look.</p>
{"<table><tr><th>Picture</th><th>Label</th><th>Maybe</th><th>Sure</th></tr>" + "".join(issue_rows) + "</table>" if issue_rows else "<p>None found.</p>"}
{csv_link}
</body></html>
"""


def write_report(
    path: Path | str,
    report: EvaluationReport,
    *,
    project_name: str,
    confusion_png: bytes | None,
    curves_png: bytes | None,
) -> tuple[Path, Path]:
    """Write the HTML page and, beside it, <name>_predictions.csv; returns both paths."""
    path = Path(path)
    if path.suffix.lower() not in (".html", ".htm"):
        path = path.with_name(path.name + ".html")
    csv_path = path.with_name(f"{path.stem}_predictions.csv")
    html = report_html(
        report,
        project_name=project_name,
        confusion_png=confusion_png,
        curves_png=curves_png,
        csv_name=csv_path.name,
    )
    # Plain writes (not temp + rename): files to share get the user's usual permissions.
    path.parent.mkdir(parents=True, exist_ok=True)
    csv_path.write_bytes(predictions_csv(report).encode("utf-8-sig"))
    path.write_bytes(html.encode("utf-8"))
    return path, csv_path
