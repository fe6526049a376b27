"""Reports and result files: results.json, samples.csv, adversarial PNGs, and the report itself
(self-contained HTML; PDF through a writer the caller passes in, since core has no Qt).

For the GUI: `build_report(results, out_dir, pdf_writer=advinspect.pdf.write_pdf, ...)` with
`results` from `results.attack_results(...)`, after `results.write_attack_outputs(...)` put the
adversarial PNGs beside it (or `base_dir=` where they are).
"""

from advinspect.core.report.build import (
                                          DEFAULT_MAX_CARDS,
                                          FORMATS,
                                          Report,
                                          ReportError,
                                          build_report,
                                          load_results,
                                          rebuild_report,
                                          select_samples,
)
from advinspect.core.report.errors import ResultsFileError
from advinspect.core.report.staging import check_writable, staged_folder

__all__ = ["DEFAULT_MAX_CARDS", "FORMATS", "Report", "ReportError", "ResultsFileError", "build_report",
           "check_writable", "load_results", "rebuild_report", "select_samples", "staged_folder"]
