"""``python -m course_grader PATH... --json OUT [--csv GRADEBOOK] [--feedback DIR] [--roster FILE] [--jobs N] ...``."""
import sys

from course_grader.cli import main

sys.exit(main())
