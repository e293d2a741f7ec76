"""``python -m bayescale.cli``: the console script without its installed wrapper."""

from bayescale.cli import main

main()
