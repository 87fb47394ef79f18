"""Figures that the test run reports (fuzzing, attacks refused), shown in pytest's summary."""

from __future__ import annotations

import pytest

_KEY = pytest.StashKey["_Figures"]()


class _Figures:
    """A plugin registered on first use: pytest calls its terminal summary hook at the end."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        terminalreporter.write_sep("-", "BookIt figures")
        for line in self.lines:
            terminalreporter.write_line(line)


def report(config: pytest.Config, *lines: str) -> None:
    """Show `lines` in the run's summary (and at once with `-s`)."""
    figures = config.stash.get(_KEY, None)
    if figures is None:
        figures = config.stash[_KEY] = _Figures()
        config.pluginmanager.register(figures, "bookit-figures")
    figures.lines.extend(lines)
    print("\n".join(lines))  # noqa: T201 - shown with -s; captured otherwise
