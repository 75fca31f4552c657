"""The demos of scripts/mnist.py, one module each, registered by subcommand name.

Each module defines `Config` (a dataclass extending common.DemoConfig), `HELP` (one line for
`mnist.py --help`), a docstring (the demo's own --help), optionally `EXCLUDE` (common flags
that do not apply), and `run(cfg, outputs) -> dict` returning the metrics to save.
"""

from scripts.mnist_demos import (
    batchnorm,
    convnet,
    deep,
    gradcheck,
    init,
    optimizers,
    overfit,
    transfer,
    twolayer,
    zoo,
)

DEMOS = {
    "twolayer": twolayer,
    "gradcheck": gradcheck,
    "optimizers": optimizers,
    "init": init,
    "batchnorm": batchnorm,
    "overfit": overfit,
    "convnet": convnet,
    "deep": deep,
    "zoo": zoo,
    "transfer": transfer,
}
