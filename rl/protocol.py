"""The small agent protocol that rl/ needs, so that rl/ never imports agents/."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Agent(Protocol):
    """What the training loop, evaluation and checkpoints expect from an agent.

    An agent may also offer `acting_state_dict() -> (arrays, meta)`: only what acting needs
    (the Q-network or table), without side effects, for the best checkpoint; `load_state_dict`
    then accepts it too (its meta says "acting_only"). An agent without it has its whole
    `state_dict()` saved as its best checkpoint.
    """

    rng: np.random.Generator  # the agent's own exploration rng (its state goes in state_dict)

    def act(self, obs: Any, greedy: bool = False) -> int:
        """Action for `obs`: exploring for training, or the greedy one when `greedy`."""
        ...

    def observe(
        self,
        obs: Any,
        action: int,
        reward: float,
        next_obs: Any,
        terminated: bool,
        truncated: bool,
    ) -> dict[str, float]:
        """Store/learn from one transition; return metrics such as {"loss": ...} (may be empty).

        Bootstrapping must stop on `terminated` only: `truncated` (a time limit) is not the end
        of the task.
        """
        ...

    def state_dict(self) -> tuple[dict[str, np.ndarray], dict]:
        """(arrays, JSON-able meta) holding everything needed to resume exactly."""
        ...

    def load_state_dict(self, arrays: dict[str, np.ndarray], meta: dict) -> None:
        """Restore what `state_dict` (or `acting_state_dict`, where there is one) returned."""
        ...


def choose_action(agent: Any, obs: Any, info: dict[str, Any], greedy: bool = False) -> int:
    """`agent.act(obs, greedy)`, handing the env's info["action_mask"] to an agent that chooses
    among legal actions only (its `uses_action_masks` is true)."""
    if getattr(agent, "uses_action_masks", False):
        return agent.act(obs, greedy, mask=info.get("action_mask"))
    return agent.act(obs, greedy)


def choose_actions(agent: Any, obs: list[Any], infos: list[dict[str, Any]],
                   greedy: bool = False) -> list[int]:
    """`choose_action` for several environments' observations: one `act_batch` call (one
    batched forward pass) where the agent has it, else one `act` per observation."""
    if len(obs) > 1 and hasattr(agent, "act_batch"):
        masks = ({"masks": [info.get("action_mask") for info in infos]}
                 if getattr(agent, "uses_action_masks", False) else {})
        return list(agent.act_batch(obs, greedy=greedy, **masks))
    return [choose_action(agent, o, info, greedy) for o, info in zip(obs, infos, strict=True)]
