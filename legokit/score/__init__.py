"""legokit.score."""
