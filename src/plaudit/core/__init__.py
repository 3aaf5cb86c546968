"""Domain services: plain functions taking a DB session; no FastAPI or Jinja imports."""
