"""legokit.tts."""
