"""Records, errors, money, the model-string grammar and other rules: no I/O."""
