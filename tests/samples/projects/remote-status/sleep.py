"""Wait for `seconds`, then finish."""

import time

seconds = 1

time.sleep(seconds)
