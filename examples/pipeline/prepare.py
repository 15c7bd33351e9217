"""Prepare a toy data set: `size` numbers, one per line, in data.txt."""

size = 10
seed = 1

import random

rng = random.Random(seed)
with open("data.txt", "w") as f:
    for _ in range(size):
        f.write("%f\n" % rng.random())
print("prepared %d samples" % size)
