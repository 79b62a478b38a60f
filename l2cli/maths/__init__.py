"""The mathematics of one model: activations, losses, the network, the objective J = L + λΩ, its curvature
and the Laplace evidence. Each module puts the formula and the line that computes it side by side."""
