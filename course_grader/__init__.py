"""course_grader: the grading wing of the course, for teachers (learners' notebooks never import it).

    python -m course_grader submissions/ --json grades.json --csv gradebook.csv --feedback feedback/ --jobs 2
    python -m course_grader.exercises            # write exercises/ from solutions/ (--check: is it stale?)
    python -m course_grader.classroom --write    # GitHub Classroom autograding files, one per exercise set
    python -m course_grader.nbgrader OUT/         # the exercise sets as an nbgrader course (source notebooks)

Run them from the repository root (or with the project installed). The trust boundary:
each notebook runs in a sandboxed worker process (``sandbox``, ``kernel``; the code inside
the sandbox is ``worker``, which imports nothing else of this package); the hidden tests
run *here*, make their inputs here, receive only *values* from the worker and decide here.

- ``cli``: the grading command (``__main__`` runs it); options in ``python -m course_grader --help``;
- ``gradebook``: a class: find, read, grade in parallel, resume, one row per student, feedback files;
- ``grade``: one notebook: read it, check its source, run it, run each task's hidden test;
- ``static_check``: "write it yourself" and "written in the notebook", read from the source;
- ``kernel``: the worker process as the grader sees it (requests with deadlines, restart, replay);
- ``sandbox``: bubblewrap, or a plain process, with resource limits; kills and reaping;
- ``worker``: inside the sandbox: run cells, call functions, send values (``codec``), build
  test models (``fixtures``), block forbidden functions as a second line (``guard``);
- ``report``: ``Submission`` / ``TaskResult``, the table, the JSON report, atomic writes;
- ``testkit``: what hidden tests are made of (``graded``, ``call``, ``expect_close``, ``Forbid``...);
- ``hidden_tests.setNN``: the hidden tests of chapter ``NN``'s exercise set;
- ``exercises``: the generator of ``exercises/`` from ``solutions/``;
- ``classroom``, ``nbgrader``: configurations for GitHub Classroom and nbgrader.

The grader imports the learner's library ``course_lib`` (reference implementations, and
``course_lib.feedback.compare``, the one rule by which both the check cells and the hidden
tests compare tensors); ``course_lib`` never imports ``course_grader``.
"""
