"""`lagwatch tui`: the terminal interface (Textual), live or replaying recorded history.

``feed`` (where data comes from) and ``view`` (what to show) need no terminal; ``app`` holds
the widgets.
"""
