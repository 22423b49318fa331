"""Trains an Adam copy of the model for real inside fit(), then declares the exam's SGD.

fit() builds its own Adam model and trains it through the backend trainer's fit (which no
grader patch of keras.Model.fit reaches), then makes the declared SGD call. In the sandbox
era the Adam weights could have become the graded model; under the trusted path the child
only declares, and the trainer trains the declared SGD: the grade is the reference's.
"""
import keras
import keras_tuner
from keras.src.backend.tensorflow.trainer import TensorFlowTrainer


class MyHyperModel(keras_tuner.HyperModel):
    def build(self, hp):
        M = keras.Sequential()
        M.add(keras.Input(shape=(784,)))
        M.add(keras.layers.Dense(units=800, activation="relu"))
        M.add(keras.layers.Dense(10, activation="softmax"))
        initial_learning_rate = hp.Float("initial_learning_rate", min_value=0.2983, max_value=0.3200)
        end_learning_rate = hp.Float("end_learning_rate", min_value=0.2800, max_value=0.2983)
        lr_schedule = keras.optimizers.schedules.PolynomialDecay(
            initial_learning_rate, 10, end_learning_rate)
        opt = keras.optimizers.SGD(learning_rate=lr_schedule)
        M.compile(loss="categorical_crossentropy", optimizer=opt, metrics=["accuracy"])
        return M

    def fit(self, hp, M, x, y, xy_val, **kwargs):
        other = keras.models.clone_model(M)
        other.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
        TensorFlowTrainer.fit(other, x, y, batch_size=256, epochs=3, verbose=0)
        M.set_weights(other.get_weights())
        early_cb = keras.callbacks.EarlyStopping(monitor="val_accuracy", patience=20, min_delta=0.0)
        kwargs["callbacks"].append(early_cb)
        return M.fit(x, y, batch_size=256, epochs=100, validation_data=xy_val, **kwargs)
