# The reference split into helper functions at module level.
import keras
import keras_tuner

BATCH, EPOCHS = 256, 100


def mlp(inputs=784, hidden=800, classes=10):
    model = keras.Sequential()
    model.add(keras.Input(shape=(inputs,)))
    model.add(keras.layers.Dense(units=hidden, activation="relu"))
    model.add(keras.layers.Dense(classes, activation="softmax"))
    return model


def polynomial(hp):
    initial = hp.Float("initial_learning_rate", min_value=0.2983, max_value=0.3200)
    end = hp.Float("end_learning_rate", min_value=0.2800, max_value=0.2983)
    return keras.optimizers.schedules.PolynomialDecay(initial, 10, end)


def early_stopping(patience=10):
    return keras.callbacks.EarlyStopping(
        monitor="val_accuracy", patience=2 * patience, min_delta=0.0
    )


class MyHyperModel(keras_tuner.HyperModel):
    def build(self, hp):
        model = mlp()
        optimizer = keras.optimizers.SGD(learning_rate=polynomial(hp))
        model.compile(loss="categorical_crossentropy", optimizer=optimizer, metrics=["accuracy"])
        return model

    def fit(self, hp, M, x, y, xy_val, **kwargs):
        kwargs["callbacks"].append(early_stopping())
        return M.fit(x, y, batch_size=BATCH, epochs=EPOCHS, validation_data=xy_val, **kwargs)
