"""A sweep of many models: the plan of its points, their layout on this machine, the engine that trains them,
the grid cells, cross-validation, aggregation and the choice of λ."""
