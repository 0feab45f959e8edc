"""The two functions' entry modules: ``functions/<name>/main.py`` (what Lambda and functions-framework load)."""
