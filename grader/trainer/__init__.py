"""The trainer: the grader's own TensorFlow process, which never runs student code.

Three rooms, by trust (docs/DESIGN.md): the parent (`grader/`, no TensorFlow), this one,
and the child (`grader/child/`, the student's code in the sandbox). The trainer imports
TensorFlow, Keras and keras-tuner, and of the grader only `grader.trainer.*` and the
shared message types of `grader.child.declaration` and `grader.child.protocol`
(`tests/test_design_doc.py` enforces it). It deserialises only standard Keras objects,
in safe mode, with no custom objects but its own learning-rate table.

It does two jobs, one persistent process per grading process (`grader.evaluator`, the
parent's handle, starts and watches it): it runs the search on what a submission
declared (`grader.trainer.search`), evaluating the best model on the test set itself,
and it predicts with a model the sandboxed child trained (`grader.trainer.server`'s
`predict`, for submissions that cannot be declared). `grader.trainer.wire` holds what the
parent and the trainer say to each other.
"""
