"""The PySide6 desktop app. Start it with `advinspect gui` or `advinspect.gui.app.run_gui`.

Importing this package is cheap on purpose: torch and the core jobs are imported by the worker
thread after the window shows.
"""
