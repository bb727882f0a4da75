"""legokit.data."""
