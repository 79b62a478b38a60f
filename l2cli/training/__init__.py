"""Training one stack of models: the loop, the active stack, the stopping rules, the history, the
checkpoint and the warm-started path."""
