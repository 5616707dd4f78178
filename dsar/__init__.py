"""dsar package."""
