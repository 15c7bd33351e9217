import time

seconds = 300

print("napping", flush=True)
time.sleep(seconds)
