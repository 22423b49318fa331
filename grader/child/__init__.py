"""Code that runs inside the sandbox, in the child process, beside the student's code.

Everything under `grader/child/` runs in the same interpreter as untrusted student code,
so nothing it computes is trusted by the parent: a class body can replace any function
here, read the call stack or patch Keras. The parent treats what this package writes
(`response.json`, progress lines, model files) as hostile data, read only through
`grader.boundary`, and grades from what it can verify itself.

Import rule: modules here import only `grader.child.*` (and the standard library, NumPy,
Keras, keras-tuner); the parent imports only `grader.child.protocol` from here.
"""
