"""Stand-alone scripts muslin copies into the install container and runs with the image's Python.

They import nothing from muslin (only the standard library, plus ``installer``
and ``packaging`` copied next to them), and stay compatible with Python 3.8.
"""
