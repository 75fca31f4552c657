"""The supervised path: the book's MNIST / Fashion-MNIST experiments, built on `nets`.

It lives beside the RL path and shares only `nets` (and `fileio`) with it: nothing in `rl/` or
`agents/` imports it (tests/test_import_direction.py checks that).

- `supervised.datasets`: read IDX files, find or download MNIST and Fashion-MNIST
- `supervised.trainer`: minibatch training of a classifier, as the book's ``Trainer``
- `supervised.augment`: random shifts and mirror images of training minibatches

The demos that run the book's chapters are `scripts/mnist.py` (one subcommand each).
"""
