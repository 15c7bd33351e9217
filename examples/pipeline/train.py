"""Train a toy model on data.txt (copied from the prepare run)."""

lr = 0.1
epochs = 3


def fit(data: list[float]) -> float:
    weight = 0.0
    for epoch in range(epochs):
        for x in data:
            weight += lr * (x - weight)
        print("epoch %d: weight=%.4f" % (epoch + 1, weight))
    return weight


with open("data.txt") as f:
    samples = [float(line) for line in f]
model = fit(samples)
with open("model.txt", "w") as f:
    f.write("%f\n" % model)
print("loss: %.4f" % abs(0.5 - model))
