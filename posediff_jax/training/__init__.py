"""Training the unconditional pose prior: `train_and_evaluate(config, workdir)`."""
