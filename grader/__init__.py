"""grader: grade keras_tuner HyperModel exercises on learning-rate schedules.

The pipeline, one module per stage (docs/DESIGN.md):
discover -> submission (load) -> probe and declare (child) -> train (trainer) -> score -> report.
`grader.batch.grade` grades a batch, `grader.pipeline.grade_one` one submission;
`grader.cli` only parses arguments.
"""

__version__ = "0.1.0"
