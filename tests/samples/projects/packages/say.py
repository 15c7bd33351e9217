import os

name = "world"

with open(os.path.join(os.path.dirname(__file__), "data", "greeting.txt")) as f:
    greeting = f.read().strip()
print("%s, %s" % (greeting, name))
