#!/usr/bin/env python
# coding: utf-8

# # Examen TL05 — sección 3
# 
# Solución de referencia, exportada como script.


# In[ ]:


get_ipython().system('pip install -q keras-tuner')


# In[ ]:


get_ipython().run_line_magic('matplotlib', 'inline')
import numpy as np; import matplotlib.pyplot as plt
import os; os.environ['TF_CPP_MIN_LOG_LEVEL'] = '2'
import keras; import keras_tuner
keras.utils.set_random_seed(23); input_dim = 784; num_classes = 10
(x_train_val, y_train_val), (x_test, y_test) = keras.datasets.fashion_mnist.load_data()
x_train_val = x_train_val.reshape(-1, input_dim).astype("float32") / 255.0
x_test = x_test.reshape(-1, input_dim).astype("float32") / 255.0
y_train_val = keras.utils.to_categorical(y_train_val, num_classes)
y_test = keras.utils.to_categorical(y_test, num_classes)
x_train = x_train_val[:-10000]; x_val = x_train_val[-10000:]
y_train = y_train_val[:-10000]; y_val = y_train_val[-10000:]


# In[ ]:


class MyHyperModel(keras_tuner.HyperModel):
    def build(self, hp):
        M = keras.Sequential()
        M.add(keras.Input(shape=(784,)))
        M.add(keras.layers.Dense(units=800, activation='relu'))
        M.add(keras.layers.Dense(10, activation='softmax'))
        initial_learning_rate = hp.Float("initial_learning_rate", min_value=0.2983, max_value=0.3200)
        end_learning_rate = hp.Float("end_learning_rate", min_value=0.2800, max_value=0.2983)
        decay_steps = 100
        lr_schedule = keras.optimizers.schedules.PolynomialDecay(
            initial_learning_rate, decay_steps, end_learning_rate)
        opt = keras.optimizers.SGD(learning_rate=lr_schedule)
        M.compile(loss="categorical_crossentropy", optimizer=opt, metrics=["accuracy"])
        return M
    def fit(self, hp, M, x, y, xy_val, **kwargs):
        patience = 10
        early_cb = keras.callbacks.EarlyStopping(monitor='val_accuracy', patience=2*patience, min_delta=0.0)
        kwargs['callbacks'].append(early_cb)
        return M.fit(x, y, batch_size=256, epochs=100, validation_data=xy_val, **kwargs)


# In[ ]:


tuner = keras_tuner.BayesianOptimization(
        MyHyperModel(), objective="val_accuracy", max_trials=10, executions_per_trial=1,
        overwrite=True, directory="/tmp", project_name="Fashion-MNIST")


# In[ ]:


tuner.search(x_train, y_train, (x_val, y_val))


# In[ ]:


tuner.results_summary(num_trials=1)


# In[ ]:


best = tuner.get_best_models(num_models=1)[0]
score = best.evaluate(x_test, y_test, verbose=0)
print(f'Loss: {score[0]:.4}\nPrecisión: {score[1]:.2%}')

