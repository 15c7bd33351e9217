"""Read data.txt (linked from the prepare run) and report a loss."""

lr = 0.1
epochs = 2

with open("data.txt") as f:
    data = [int(line) for line in f]
print("trained on %d samples: lr=%s epochs=%s loss=%.3f" % (len(data), lr, epochs, sum(data) * lr / epochs))
