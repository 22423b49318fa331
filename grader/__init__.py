"""grader: grade keras_tuner HyperModel exercises on learning-rate schedules.

The pipeline, one module per stage:
discover -> submission (load) -> probe -> search -> evaluate -> score -> report.
`grader.pipeline.grade` runs it; `grader.cli` only parses arguments.
"""

__version__ = "0.1.0"
