"""Headless core: models, data, attacks, defenses, metrics, reports. Never imports Qt."""
