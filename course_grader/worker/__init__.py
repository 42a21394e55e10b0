"""The code that runs *inside* the sandbox, next to the learner's notebook.

This package is self-contained: it imports nothing from ``course_grader`` (only relative
imports, the standard library, numpy and torch), because the sandbox mounts it read-only
as the package ``course_worker`` and nothing else of the grader. The learner's code can
read it (it is public) and can tamper with it at run time (it runs in the same process);
neither matters, because the worker never decides a grade. It only

- runs the notebook's cells (``runtime``), and calls the learner's functions on the inputs
  the grader sends, returning the *values* they give back (``codec``: JSON with raw bytes
  for arrays, never pickle) over length-prefixed frames (``protocol``);
- builds the few test objects that cannot travel as values, such as small models, from
  weights the grader sends (``fixtures``);
- confines its own process before any notebook code runs (``confine``: resource limits,
  no new processes, signals only to itself);
- blocks, as a second line of defence, library functions a task forbids (``guard``); the
  first line is a static check of the notebook's source in the grader's process.

Every verdict is computed in the grader's process, from the decoded values.
"""
