"""The project's own demo models, trained by scripts here from data that ships in packages."""
