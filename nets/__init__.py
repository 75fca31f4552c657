"""From-scratch NumPy neural networks: layers, losses, optimizers, models, gradcheck, io."""
