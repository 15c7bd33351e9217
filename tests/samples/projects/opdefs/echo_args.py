import sys

seed = 0
print(" ".join(sys.argv[1:]) or "(no arguments)")
print("seed =", seed)
