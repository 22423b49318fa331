"""build() raises."""
import keras
import keras_tuner


class MyHyperModel(keras_tuner.HyperModel):
    def build(self, hp):
        raise ValueError('my build is broken')

    def fit(self, hp, M, x, y, xy_val, **kwargs):
        early_cb = keras.callbacks.EarlyStopping(monitor="val_accuracy", patience=20, min_delta=0.0)
        kwargs["callbacks"].append(early_cb)
        return M.fit(x, y, batch_size=256, epochs=100, validation_data=xy_val, **kwargs)
