"""pytest configuration shared by the unit tests and the notebook tests (nbval).

Environment variables set here are inherited by the Jupyter kernels that nbval starts,
so every notebook runs offline and without Hugging Face progress bars.
"""
import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"  # silence a debugger warning in kernels

collect_ignore_glob = ["exercises/*", "solutions/*", "build/*", "_build/*"]
