# The reference as a list-form Sequential whose model, layers, optimizer and schedule
# carry names of their own: labels that change no number.
import keras
import keras_tuner


class MyHyperModel(keras_tuner.HyperModel):
    def build(self, hp):
        model = keras.Sequential(
            [
                keras.Input(shape=(784,)),
                keras.layers.Dense(800, activation="relu", name="hidden_800"),
                keras.layers.Dense(10, activation="softmax", name="class_scores"),
            ],
            name="exam_mlp",
        )
        schedule = keras.optimizers.schedules.PolynomialDecay(
            initial_learning_rate=hp.Float(
                "initial_learning_rate", min_value=0.2983, max_value=0.3200
            ),
            decay_steps=10,
            end_learning_rate=hp.Float("end_learning_rate", min_value=0.2800, max_value=0.2983),
            name="my_decay",
        )
        model.compile(
            optimizer=keras.optimizers.SGD(learning_rate=schedule, name="plain_sgd"),
            loss="categorical_crossentropy",
            metrics=["accuracy"],
        )
        return model

    def fit(self, hp, M, x, y, xy_val, **kwargs):
        callbacks = kwargs.pop("callbacks")
        callbacks.append(
            keras.callbacks.EarlyStopping(monitor="val_accuracy", patience=20, min_delta=0.0)
        )
        return M.fit(
            x, y, batch_size=256, epochs=100, validation_data=xy_val, callbacks=callbacks
        )
