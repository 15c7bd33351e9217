# An argparse script: typed flags and a choice.
import argparse

p = argparse.ArgumentParser()
p.add_argument("--color", default="red", choices=["red", "green"])
p.add_argument("--n", type=int, default=1)
p.add_argument("--rate", type=float, default=0.5)
p.add_argument("--verbose", action="store_true")
args = p.parse_args()
print("color=%s n=%s rate=%s verbose=%s" % (args.color, args.n, args.rate, args.verbose))
