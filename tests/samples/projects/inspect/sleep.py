import time

seconds = 1

print("start", flush=True)
time.sleep(seconds)
print("done", flush=True)
