with open("model.txt") as f:
    print("evaluating " + f.read().strip())
