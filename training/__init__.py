"""Training, evaluation and export of IDS-EBGAN models (needs torch).

Installed as ``ebgan_edge.training``; importing it does not import torch,
its modules that need torch do.
"""
