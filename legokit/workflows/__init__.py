"""legokit.workflows: what a command runs, built on the library below it.

experiment.py: train a brick chain and export its bricks (`legokit train`); decode.py: decode a data dir
with a model file (`legokit decode`); compress.py: compress a brick, with QAT through the trainer, and
evaluate it (`legokit brick compress`). Nothing in data/, nn/, train/, decode/, lego/ or tts/ imports this.
"""
