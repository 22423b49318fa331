# The reference with every name of its own changed: variables, arguments, the callback.
import keras
import keras_tuner


class MyHyperModel(keras_tuner.HyperModel):
    def build(self, hyper):
        net = keras.Sequential()
        net.add(keras.Input(shape=(784,)))
        net.add(keras.layers.Dense(units=800, activation="relu"))
        net.add(keras.layers.Dense(10, activation="softmax"))
        start = hyper.Float("initial_learning_rate", min_value=0.2983, max_value=0.3200)
        finish = hyper.Float("end_learning_rate", min_value=0.2800, max_value=0.2983)
        steps = 10
        decay = keras.optimizers.schedules.PolynomialDecay(start, steps, finish)
        sgd = keras.optimizers.SGD(learning_rate=decay)
        net.compile(loss="categorical_crossentropy", optimizer=sgd, metrics=["accuracy"])
        return net

    def fit(self, hp, M, x, y, xy_val, **kwargs):
        wait = 10
        stopper = keras.callbacks.EarlyStopping(
            monitor="val_accuracy", patience=2 * wait, min_delta=0.0
        )
        kwargs["callbacks"].append(stopper)
        return M.fit(x, y, batch_size=256, epochs=100, validation_data=xy_val, **kwargs)
