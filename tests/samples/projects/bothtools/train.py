import argparse

p = argparse.ArgumentParser()
p.add_argument("--lr", type=float, default=0.1)
p.add_argument("--name", default="base")
args = p.parse_args()
print("lr=%s name=%s" % (args.lr, args.name))
