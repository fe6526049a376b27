"""The command line: `advinspect` (GUI) and `advinspect <command>` (headless)."""

from advinspect.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
