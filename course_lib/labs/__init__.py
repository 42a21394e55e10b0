"""Chapter labs: the widgets and demonstrations of one chapter each.

One module per chapter (``ch01_ngrams``, ``ch02_attention``, ...). Each lab is built from
the library in ``course_lib`` and adds what a notebook shows: sliders, figures, tables.
Nothing in the library imports a lab, and no lab imports another (checked by the import
contracts in ``pyproject.toml``). One naming style throughout:

    <topic>_widget(...)  -> an ipywidgets widget, ready to display
    <topic>_state(...)   -> the plain numbers a widget shows (what the tests call)
    plot_<topic>(...)    -> a matplotlib figure or axes
"""
