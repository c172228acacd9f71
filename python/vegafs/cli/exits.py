"""Exit codes scripts can rely on, as ripgrep and fd use them."""

OK = 0
ERRORS_LISTED = 1  # done, but some entries could not be read (listed)
USAGE = 2  # bad usage, bad filter, or a root that cannot be read (message names it)
INTERRUPTED = 130  # Ctrl-C
