"""No MyHyperModel at all."""
import keras

x = 1
