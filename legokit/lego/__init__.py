"""legokit.lego."""
