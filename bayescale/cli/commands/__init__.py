"""The commands of the ``bayescale`` command line, one module per group.

Each command parses its options, checks every input and output it can before any work,
calls the library, and renders the result; :mod:`bayescale.cli` registers them on the app.
"""
