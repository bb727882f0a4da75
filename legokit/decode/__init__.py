"""legokit.decode."""
