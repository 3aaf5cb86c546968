"""Server-rendered web UI (Jinja2 templates + plain JS served from the package)."""
