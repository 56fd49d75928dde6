"""Configuration: YAML with locations, pydantic models, and errors that name file, line and column."""
