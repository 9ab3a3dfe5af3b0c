"""eagerrun's per-step cost against the hand-written loop, measured in one process, block by block.

    python benchmarks/paired.py {graph,eager} BLOCKS STEPS_PER_BLOCK

Fresh processes differ from each other by 10% or more on a small shared machine, which buries a 2%
difference. Here both loops train their own copy of the same model in one process, in the mode eagerrun
sets (graph, or eager with tf.data debug mode), alternating blocks of steps in a random order, so both see the
same machine at nearly the same moment. eagerrun's side is its real trainer (the code `eagerrun --train` runs per step,
writing every step to a JSON-lines file as `--metrics-out` does); start-up and the closing table are the
end-to-end measure's business (bench_steps.py). A second copy of the hand-written loop, on its own model, runs in the
same rotation as a control: its ratio to the first copy is what this measure reads when nothing differs (an A/A
test), so a ratio of eagerrun's within that band is noise. Prints one JSON object: every step's time of the three
loops, block by block.
"""

import json
import random
import sys
import tempfile
from pathlib import Path

from eagerrun import modes, switches
from eagerrun.autolog import hooks
from eagerrun.config import TrainOptions
from eagerrun.diagnostics.tracing import TraceCounter
from eagerrun.records import JsonlSink, Recorder
from eagerrun.train.spec import spec_from_value, validate_spec
from eagerrun.train.trainer import build_trainer


def main():
    mode, blocks, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    modes.apply_mode(modes.ModeChoice(mode=mode, source="flag"), switches=switches.kept())
    import keras
    from bench_model import build
    from handwritten import GuideLoop

    keras.utils.set_random_seed(0)
    guide = GuideLoop(build(), compiled=mode == "graph")
    control = GuideLoop(build(), compiled=mode == "graph")
    with tempfile.TemporaryDirectory() as tmp:
        recorder = Recorder(mode=mode, sinks=[JsonlSink(Path(tmp) / "steps.jsonl")])
        traces = TraceCounter(enabled=mode == "graph")
        with hooks.installed(traces=traces):
            trainer = build_trainer(validate_spec(spec_from_value(build())), TrainOptions(steps=steps),
                                    eager=mode == "eager", recorder=recorder, traces=traces)
            def eagerrun_block():
                trainer.run()
                return [r.time_s for r in recorder.records[-steps:]]

            loops = {"handwritten_s": lambda: guide.run(steps), "control_s": lambda: control.run(steps),
                     "eagerrun_s": eagerrun_block}
            pairs = []
            for _ in range(blocks + 1):  # the first pair warms both up (tracing) and is dropped
                order = random.sample(list(loops), len(loops))  # neither always runs right after the other
                pairs.append({name: loops[name]() for name in order})
        recorder.close()
    print(json.dumps({"mode": mode, "steps_per_block": steps, "blocks": pairs[1:]}))


if __name__ == "__main__":
    main()
