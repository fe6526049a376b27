"""Reports and result files: JSON/CSV tables, adversarial PNGs (HTML/PDF to come)."""
