params = {"lr": 0.1, "model": {"layers": 2, "act": "relu"}}

print(params["lr"], params["model"]["layers"], params["model"]["act"])
