"""A fixed, fully populated graded result: the report tests', the goldens' and the browser
test's input. Every field the templates and plots read has a value, hostile text included.
"""

from __future__ import annotations

from grader.results import (
    Baseline,
    CheckResult,
    CheckStatus,
    Curve,
    GradeResult,
    LearningRateCurves,
    Location,
    SkippedStatement,
    SnippetLine,
    Status,
    TrialResult,
    TrialStatus,
)

SHA = "ab" * 32

# The message a check might quote from student code: must be shown, never run.
SCRIPT_MESSAGE = "se esperaba <script>alert(1)</script> | [x](javascript:1)"

STEPS = (0, 1, 2, 3, 5, 8, 10, 11, 20, 100, 1000, 19600)


def _lr(initial: float, end: float, decay_steps: int) -> tuple[float, ...]:
    return tuple((initial - end) * (1 - min(s, decay_steps) / decay_steps) + end for s in STEPS)


def graded_result(id: str = "josé") -> GradeResult:
    return GradeResult(
        id=id,
        sha256=SHA,
        assignment="fashion-mnist-polynomial-decay",
        budget="smoke",
        status=Status.GRADED,
        message="",
        score=7.5,
        max_score=10.0,
        checks=(
            CheckResult(
                "structure",
                "Estructura de MyHyperModel",
                CheckStatus.PASSED,
                1.0,
                1.0,
                "Correcta.",
                location=Location(cell=5, line=1),
                snippet=(
                    SnippetLine(1, "class MyHyperModel(keras_tuner.HyperModel):"),
                    SnippetLine(2, "    def build(self, hp):"),
                ),
            ),
            CheckResult(
                "schedule",
                "Planificador PolynomialDecay",
                CheckStatus.FAILED,
                0.0,
                2.0,
                "Se usa ExponentialDecay en lugar de PolynomialDecay.",
                location=Location(cell=5, line=12),
                snippet=(
                    SnippetLine(10, "        decay_steps = 10"),
                    SnippetLine(11, "        # ``` and </pre><script>alert(2)</script>"),
                    SnippetLine(12, "        lr = keras.optimizers.schedules.ExponentialDecay("),
                    SnippetLine(13, "            0.3, decay_steps, 0.96)"),
                ),
            ),
            CheckResult(
                "loss_metrics",
                "Pérdida y métricas",
                CheckStatus.FAILED,
                0.25,
                0.5,
                SCRIPT_MESSAGE,
                location=Location(cell=None, line=40),
            ),
            CheckResult(
                "accuracy", "Precisión en test", CheckStatus.SKIPPED, 0.0, 1.0, "Sin modelo."
            ),
            CheckResult(
                "secret_rule",
                "Regla oculta del profesor",
                CheckStatus.PASSED,
                1.0,
                1.0,
                "Mensaje oculto al estudiante.",
                hidden=True,
            ),
        ),
        test_accuracy=0.8512,
        test_loss=0.4213,
        val_accuracy=0.8605,
        best_hyperparameters={"initial_learning_rate": 0.31, "end_learning_rate": 0.29},
        trials=(
            TrialResult(
                "00",
                {"initial_learning_rate": 0.31, "end_learning_rate": 0.29},
                0.8605,
                2,
                12.5,
                TrialStatus.COMPLETED,
                history={
                    "accuracy": [0.81, 0.86],
                    "loss": [0.61, 0.42],
                    "val_accuracy": [0.84, 0.8605],
                    "val_loss": [0.47, 0.40],
                },
            ),
            TrialResult(
                "01",
                {"initial_learning_rate": 0.3, "end_learning_rate": 0.285},
                0.8431,
                2,
                11.0,
                TrialStatus.COMPLETED,
            ),
            TrialResult(
                "02",
                {"initial_learning_rate": 0.305, "end_learning_rate": 0.2901},
                None,
                0,
                0.4,
                TrialStatus.FAILED,
                message="ValueError: bad shape",
            ),
        ),
        learning_rate=LearningRateCurves(
            student=Curve(STEPS, _lr(0.2983, 0.28, 100)),
            expected=Curve(STEPS, _lr(0.2983, 0.28, 10)),
            family="PolynomialDecay",
            hyperparameters={"initial_learning_rate": 0.2983, "end_learning_rate": 0.28},
            total_steps=19600,
        ),
        baselines=(
            Baseline("PolynomialDecay (SGD, exam)", 0.8883, "TL05 exam, section 3"),
            Baseline("Adam, tuned learning rate", 0.898),
        ),
        reference_test_accuracy=0.8523,
        skipped_statements=(
            SkippedStatement(2, 1, "data loading", "(x, y), _ = fashion_mnist.load_data()"),
            SkippedStatement(9, 3, "tuner.search", "tuner.search(x, y, `epochs`=100)"),
        ),
        notes=("El corrector restauró los callbacks del tuner que tu fit descartaba.",),
        timings={"search": 25.25, "evaluate": 1.5},
        versions={"grader": "0.1.0", "keras": "3.15.1"},
        source_path="submissions/josé.ipynb",
    )
