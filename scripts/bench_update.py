"""Benchmark: milliseconds per DQN update of the real presets, optionally against another checkout.

For each environment id (default PacGrid/Small-v1 and PacGrid/Medium-v1), builds the agent of
its DQN preset (`agents.registry.new_run("dqn", id, {"seed": 0})`), fills the replay buffer with
`--transitions` uniformly random legal moves, and times `agent.update()`: the preset's batch,
network, Double DQN, n-step returns and optimizer, nothing of acting or the environment.

`--against PATH` times the same in another checkout of this project (say, the main branch's
worktree) side by side: each tree runs in its own worker process (its code on PYTHONPATH), both
agents see the same seed and the same transitions, and the workers take turns, `--updates`
updates at a time for `--rounds` rounds, so that both see the same machine load. Each figure is
the median over the rounds, in wall-clock and in the worker's CPU time (`_cpu`: on a shared
machine the wall clock also counts the time the worker waited for a core), and `ratio` (this
tree's ms / the other's) is the median of the per-round ratios: the figures move with the load,
the ratios much less.

`--breakdown` says instead where one update's time goes, in this tree: the update's parts
(sampling, Double DQN's online pass over next_obs that chooses the next action, both networks'
forward pass, the TD target, the backward pass, the optimizer, ...)
and each layer's forward and backward passes in each network (its leaves, named as in the
checkpoint, e.g. features.cnn.conv1), measured inside real updates (the methods wrapped with
timers) and given in ms of CPU time per update. A layer's figure adds up all its passes in an
update, by kind: `forward`, `forward_twin` (the online network runs over obs and the target
network over next_obs in one pass, Sequential.forward_twin: it is timed in the
online network's layers, and a layer without a one-pass way of its own adds its twin's forward
to its figure), `forward_twin_repeated` (the same under the Munchausen target, whose target
network also reads obs) and `backward`; a pass that calls another of the layer's is counted
in both. `other` is what the parts leave out (the loss, indexing, the target sync).

Both take glibc's malloc settings of training (rl.memory; the workers as environment variables,
whichever tree they run).

Prints ONE JSON object. One BLAS thread (OPENBLAS_NUM_THREADS=1 unless already set).
Usage: `python scripts/bench_update.py [--against ../main | --breakdown] [--envs ID ...]`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

# One BLAS thread (set before NumPy loads in this process; workers get it in their environment).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

HERE = Path(__file__).resolve().parent.parent  # this checkout's root


def filled_agent(env_id: str, transitions: int, settings: dict):
    """The DQN agent of env_id's preset (with `settings` over it), its replay buffer filled
    with `transitions` uniformly random legal moves, after 5 warm-up updates."""
    import numpy as np

    import envs  # noqa: F401  (registers the PacGrid ids)
    from agents.registry import new_run

    run = new_run("dqn", env_id, {"seed": 0, **settings})
    env = run.make_env()
    agent = run.make_agent(env)
    rng = np.random.default_rng(0)
    obs, info = env.reset(seed=0)
    for _ in range(transitions):
        mask = info.get("action_mask")
        legal = np.arange(env.action_space.n) if mask is None else np.flatnonzero(mask)
        action = int(rng.choice(legal))
        next_obs, reward, terminated, truncated, next_info = env.step(action)
        agent.buffer.add(obs, action, reward, next_obs, terminated, truncated, mask=mask,
                         next_mask=next_info.get("action_mask"))
        obs, info = (env.reset() if terminated or truncated else (next_obs, next_info))
    for _ in range(5):  # warm caches and buffers
        agent.update()
    return agent


def worker(env_id: str, transitions: int, settings: dict) -> None:
    """Build and fill an agent, then answer "N" lines on stdin with the ms of N updates."""
    agent = filled_agent(env_id, transitions, settings)
    print("ready", flush=True)
    for line in sys.stdin:
        updates, wall, cpu = int(line), time.perf_counter(), time.process_time()
        for _ in range(updates):
            agent.update()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        print(1e3 * wall / updates, 1e3 * cpu / updates, flush=True)


def start_worker(tree: Path, env_id: str, transitions: int, settings: str) -> subprocess.Popen:
    from rl import memory  # (this tree's: the worker imports the other tree's modules)

    # Both trees' workers keep freed memory as training does (rl.memory), whatever they hold.
    environ = {**os.environ, **memory.environment(), "PYTHONPATH": str(tree),
               "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS", "1")}
    process = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--worker", env_id,
         "--transitions", str(transitions), "--settings", settings],
        cwd=tree, env=environ, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    if process.stdout.readline().strip() != "ready":
        raise RuntimeError(f"the worker for {env_id} in {tree} failed to start")
    return process


def ask(process: subprocess.Popen, updates: int) -> tuple[float, float]:
    """(wall, CPU) ms per update of `updates` updates in the worker."""
    process.stdin.write(f"{updates}\n")
    process.stdin.flush()
    wall, cpu = process.stdout.readline().split()
    return float(wall), float(cpu)


def measure(env_id: str, trees: dict[str, Path], args: argparse.Namespace) -> dict:
    workers = {name: start_worker(tree, env_id, args.transitions, args.settings)
               for name, tree in trees.items()}
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in trees}
    try:
        for round_ in range(args.rounds):
            order = list(workers) if round_ % 2 == 0 else list(workers)[::-1]
            for name in order:
                times[name].append(ask(workers[name], args.updates))
    finally:
        for process in workers.values():
            process.stdin.close()
            process.wait()
    entry = {}
    for clock, index in (("", 0), ("_cpu", 1)):
        for name, ms in times.items():
            entry[f"{name}_update{clock}_ms"] = round(statistics.median(t[index] for t in ms), 2)
        if "against" in times:
            ratios = [a[index] / b[index]
                      for a, b in zip(times["this"], times["against"], strict=True)]
            entry[f"ratio{clock}"] = round(statistics.median(ratios), 3)
            entry[f"ratio{clock}_range"] = [round(min(ratios), 3), round(max(ratios), 3)]
    return entry


PASSES = ("forward", "forward_twin", "forward_twin_repeated", "backward")  # a layer's, timed


def breakdown(env_id: str, transitions: int, settings: dict, updates: int) -> dict:
    """ms of CPU time per update: the update's parts and each network's layers, by pass."""
    from rl.memory import keep_freed_memory

    keep_freed_memory()  # as training does
    agent = filled_agent(env_id, transitions, settings)
    spent: dict[str, float] = defaultdict(float)

    def timed(owner, method: str, key) -> None:
        """Replace owner.method by a wrapper that adds its CPU time to spent[key(args)]."""
        inner = getattr(owner, method)

        def wrapper(*args, **kwargs):
            start = time.process_time()
            try:
                return inner(*args, **kwargs)
            finally:
                spent[key(*args, **kwargs)] += time.process_time() - start
        setattr(owner, method, wrapper)

    def fixed(name: str):
        return lambda *args, **kwargs: name

    timed(agent.buffer, "sample", fixed("sample"))
    if agent.config.prioritized:
        timed(agent.buffer, "update_priorities", fixed("priorities"))
    timed(agent, "_mirror_some", fixed("mirror"))
    target_method = "_munchausen_target" if agent.config.munchausen else "_target"
    timed(agent, target_method, fixed("td_target"))  # (from the target network's outputs)
    timed(agent, "_values", fixed("next_action"))  # Double DQN's online pass over next_obs
    timed(agent.optimizer, "update", fixed("optimizer"))
    timed(agent.q_net, "backward", fixed("backward"))
    for method in ("forward_twin", "forward_twin_repeated"):  # both networks in one pass
        timed(agent.q_net, method, fixed("twin_forward"))
    networks = {"online": agent.q_net, "target": agent.target_net}
    for net_name, net in networks.items():
        for layer_name, layer in net.named_leaves():
            for method in PASSES:
                timed(layer, method, fixed((net_name, layer_name, method)))

    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(updates):
        agent.update()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    per_update = {key: round(1e3 * seconds / updates, 3) for key, seconds in spent.items()}
    # The parts, each counted once: both networks' passes in twin_forward (the online one over
    # obs, the target over next_obs, and obs too under the Munchausen target), and under
    # Double DQN the online network's pass over next_obs that chooses a' in next_action.
    parts = {name: per_update.get(name, 0.0) for name in
             ("sample", "mirror", "next_action", "twin_forward", "td_target", "backward",
              "optimizer", "priorities")}
    parts["other"] = round(1e3 * cpu / updates - sum(parts.values()), 3)
    layers = {net_name: {layer_name: {p: per_update[(net_name, layer_name, p)]
                                      for p in PASSES if (net_name, layer_name, p) in per_update}
                         for layer_name, _ in net.named_leaves()}
              for net_name, net in networks.items()}
    return {"update_ms": round(1e3 * wall / updates, 3),
            "update_cpu_ms": round(1e3 * cpu / updates, 3), "parts_cpu_ms": parts,
            "layers_cpu_ms": layers}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--envs", nargs="+", default=["PacGrid/Small-v1", "PacGrid/Medium-v1"],
                        help="environment ids whose DQN presets are timed")
    parser.add_argument("--against", type=Path, default=None,
                        help="another checkout of this project to time side by side")
    parser.add_argument("--rounds", type=int, default=10, help="turns per tree (default: 10)")
    parser.add_argument("--updates", type=int, default=20,
                        help="updates per turn (default: 20)")
    parser.add_argument("--transitions", type=int, default=3000,
                        help="random transitions in the replay buffer (default: 3000)")
    parser.add_argument("--settings", default="{}", metavar="JSON",
                        help='config fields over the preset, e.g. \'{"munchausen": true}\'')
    parser.add_argument("--breakdown", action="store_true",
                        help="where one update's time goes in this tree: its parts and each "
                             "layer's passes, over --rounds x --updates updates")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker is not None:  # (runs the other tree's code: its settings were checked here)
        worker(args.worker, args.transitions, json.loads(args.settings))
        return 0
    from rl.config import json_object
    try:
        settings = json_object(args.settings)
    except argparse.ArgumentTypeError as err:
        parser.error(f"--settings: {err}")
    if min(args.rounds, args.updates, args.transitions) < 1:
        parser.error("--rounds, --updates and --transitions must be positive")
    from agents.registry import new_run
    for env_id in args.envs:  # a bad setting is an error here, not a worker that fails to start
        try:
            new_run("dqn", env_id, {"seed": 0, **settings})
        except (ValueError, TypeError) as err:
            parser.error(f"--settings for {env_id}: {err}")
    if args.breakdown:
        if args.against is not None:
            parser.error("--breakdown times this tree alone: leave out --against")
        result = {"benchmark": "dqn_update_breakdown", "this": str(HERE),
                  "openblas_num_threads": os.environ["OPENBLAS_NUM_THREADS"],
                  "updates": args.rounds * args.updates, "settings": settings}
        for env_id in args.envs:
            result[env_id] = breakdown(env_id, args.transitions, settings,
                                       args.rounds * args.updates)
        print(json.dumps(result))
        return 0
    trees = {"this": HERE}
    if args.against is not None:
        trees["against"] = args.against.resolve()
    result = {"benchmark": "dqn_update", "this": str(HERE),
              "against": None if args.against is None else str(trees["against"]),
              "openblas_num_threads": os.environ.get("OPENBLAS_NUM_THREADS", "1"),
              "rounds": args.rounds, "updates_per_round": args.updates, "settings": settings}
    for env_id in args.envs:
        result[env_id] = measure(env_id, trees, args)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
