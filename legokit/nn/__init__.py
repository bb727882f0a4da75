"""legokit.nn."""
