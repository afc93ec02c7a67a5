"""Fixtures for the deployment tests: the Helm chart loaded once per module."""

from __future__ import annotations

from typing import Any

import pytest

from tests.deploy.chart_render import CHART


@pytest.fixture(scope="module")
def chart() -> Any:
    helm_python = pytest.importorskip("helm_python")
    return helm_python.Chart.load(str(CHART))
