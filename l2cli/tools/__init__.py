"""The tools that read a run: verify and its conclusions, diff, the gradient check, the scikit-learn
estimators, a run reloaded as models, and the generated reference pages."""
