"""A syntax error in the class."""
import keras_tuner


class MyHyperModel(keras_tuner.HyperModel):
    def build(self hp):
        pass
