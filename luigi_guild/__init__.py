"""luigi-guild: a Guild AI compatible run manager built on Luigi."""

__version__ = "0.1.0"
