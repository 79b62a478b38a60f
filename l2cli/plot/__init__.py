"""The pictures of a run (needs matplotlib): the panels of ``l2cli plot``."""
