"""legokit.models."""
