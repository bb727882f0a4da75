"""legokit.commands."""
