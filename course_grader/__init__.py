"""course_grader: the grading wing of the course, for teachers (learners never import it).

It grades the exercise notebooks with hidden tests and makes the student notebooks from
the solutions:

    python -m course_grader submissions/ --json grades.json --csv gradebook.csv --timeout 60
    python -m course_grader.exercises            # write exercises/ from solutions/
    python -m course_grader.exercises --check    # write nothing; exit 1 if exercises/ is stale

Run them from the repository root (or with the project installed). The modules:

- ``cli``: the grading command (``__main__`` runs it); options in ``python -m course_grader --help``;
- ``grade``: grade one notebook (``grade_notebook``) or folders of them (``grade_paths``);
- ``kernel``: the Jupyter kernel that runs a notebook with time limits, interrupts and restarts;
- ``report``: ``Submission`` / ``TaskResult`` and the table, JSON report and CSV gradebook;
- ``testkit``: what hidden tests are made of (``Task``, ``call``, ``expect_close``, ...) and
  ``run_task``, which runs one test inside the learner's kernel;
- ``hidden_tests.setNN``: the hidden tests of chapter ``NN``'s exercise set;
- ``exercises``: the generator of ``exercises/`` from ``solutions/``.

The grader imports the learner's library ``course_lib`` (reference implementations, and
``course_lib.feedback.compare``, the one rule by which both the check cells and the hidden
tests compare tensors); ``course_lib`` never imports ``course_grader``.
"""
