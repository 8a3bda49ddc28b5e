"""Plain helpers for the appearance tests (a uniquely named module: test directories have no ``__init__.py``, so
a shared name such as ``helpers`` could clash with another package's tests)."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from seal_service.appearance.stamp import StampText
from tests.support.requirements import require

A4 = (595.28, 841.89)
"""A4 portrait in pt."""

AUTHORITY = "晋城市行政审批服务管理局"
"""The test authority's name (12 characters)."""

URL = "https://zwfw.jcs.gov.cn/verify/L2026112800017?c=9f3ac1e2b7d04a58"
"""A realistic verification URL."""


def poppler(tool: str, *args: str) -> str:
    """Run a poppler utility and return its stdout (skip the test if poppler-utils is missing)."""
    require("poppler-utils", shutil.which(tool) is not None, f"{tool} (poppler-utils) is not installed")
    proc = subprocess.run([tool, *args], check=True, capture_output=True, timeout=60)
    return proc.stdout.decode("utf-8", "replace")


def render_page(pdf: bytes, workdir: Path, dpi: int = 150) -> Path:
    """Render page 1 of ``pdf`` with ``pdftoppm -r dpi -png`` and return the PNG's path."""
    src = workdir / "doc.pdf"
    src.write_bytes(pdf)
    poppler("pdftoppm", "-r", str(dpi), "-png", "-f", "1", "-l", "1", "-singlefile", str(src), str(workdir / "page"))
    return workdir / "page.png"


def sample_text(**overrides: object) -> StampText:
    """A realistic StampText; keyword arguments replace fields."""
    values: dict[str, object] = {
        "licence_number": "91140500MA0K8X2Q7L",
        "sealed_at": datetime(2026, 11, 28, 5, 45, tzinfo=UTC),  # 13:45 in Beijing
        "verify_url": URL,
    }
    values.update(overrides)
    return StampText(**values)  # type: ignore[arg-type]
