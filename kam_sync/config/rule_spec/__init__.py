"""The rule files as pydantic models: what ops engineers may write in ``rules/*.yaml``."""
