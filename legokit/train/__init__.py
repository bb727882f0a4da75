"""legokit.train."""
