"""``python -m course_grader PATH... --json OUT [--csv GRADEBOOK] [--timeout SECONDS]``: grade notebooks."""
import sys

from course_grader.cli import main

sys.exit(main())
