"""access_policy package."""
