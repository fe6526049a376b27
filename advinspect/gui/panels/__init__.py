"""One module per dock. Each panel observes the Session; panels never call each other."""

from __future__ import annotations

from PySide6.QtWidgets import QDockWidget, QWidget

from advinspect.gui.session import Session


class Panel(QDockWidget):
    """A dock with a stable object name, so saveState/restoreState keep the user's layout."""

    object_name: str = "Panel"
    title: str = "Panel"

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(self.title, parent)
        self.setObjectName(self.object_name)
        self.session = session

    def on_screen(self) -> bool:
        """Shown and not hidden behind another dock's tab (isVisible stays True for those)."""
        return self.isVisible() and not self.visibleRegion().isEmpty()

