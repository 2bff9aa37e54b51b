"""The Typer CLI: one module per command group; render.py draws with Rich."""
