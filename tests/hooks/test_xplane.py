"""The xplane parser on real JAX and TensorFlow captures, and on a hand-built GPU-style capture."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import pytest
from jax.profiler import ProfileData

from tracker.hooks._shared.xplane import parse_xplane


def _only_xplane(root: Path) -> bytes:
    found = list(root.glob("plugins/profile/*/*.xplane.pb"))
    assert len(found) == 1, found
    return found[0].read_bytes()


def test_jax_capture_groups_xla_ops_by_module_and_op(tmp_path: Path) -> None:
    @jax.jit
    def mlp_step(x: jax.Array, w: jax.Array) -> jax.Array:
        return jnp.tanh(x @ w).sum()

    x, w = jnp.ones((16, 32)), jnp.ones((32, 32))
    mlp_step(x, w).block_until_ready()  # compile outside the capture
    with jax.profiler.trace(str(tmp_path)):
        for i in range(3):
            with jax.profiler.StepTraceAnnotation("train", step_num=i):
                mlp_step(x, w).block_until_ready()

    ops, steps = parse_xplane(_only_xplane(tmp_path))

    assert [s for s, _ in steps] == [0, 1, 2]
    assert all(d > 0 for _, d in steps)
    assert ops, "no XLA op rows"
    assert {o.category for o in ops} == {"hlo"}
    assert {o.module for o in ops} == {"jit_mlp_step"}
    assert all(o.calls % 3 == 0 and o.calls > 0 for o in ops)  # each op ran once per step
    assert all(0 < o.self_ns <= o.total_ns for o in ops)
    assert [o.self_ns for o in ops] == sorted((o.self_ns for o in ops), reverse=True)
    assert len({(o.module, o.name) for o in ops}) == len(ops)
    # Op time happens inside the annotated steps.
    assert sum(o.total_ns for o in ops) < sum(d for _, d in steps)


TF_CAPTURE = textwrap.dedent(
    """
    import os, sys
    os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"; os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
    import tensorflow as tf
    w = tf.Variable(tf.ones((32, 16)))

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.nn.relu(tf.matmul(x, w)) ** 2)
        w.assign_sub(0.01 * tape.gradient(loss, w))
        return loss

    x = tf.ones((8, 32))
    step(x)
    tf.profiler.experimental.start(sys.argv[1])
    for i in range(3):
        with tf.profiler.experimental.Trace("train", step_num=i, _r=1):
            step(x)
    tf.profiler.experimental.stop()
    """
)


def test_tensorflow_capture_groups_kernels_by_op_type(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-c", TF_CAPTURE, str(tmp_path)], check=True, timeout=120)

    ops, steps = parse_xplane(_only_xplane(tmp_path))

    assert [s for s, _ in steps] == [0, 1, 2]
    by_name = {o.name: o for o in ops}
    assert {o.category for o in ops} == {"tf_op"}
    assert by_name["MatMul"].calls >= 3  # forward and gradient matmuls, every step
    assert "Relu" in by_name and "ReluGrad" in by_name
    assert not any(":" in name or "::" in name for name in by_name)  # grouped by op type


GPU_STYLE = """
planes {
  id: 1 name: "/device:GPU:0"
  lines { id: 1 name: "Stream #14(Compute)" timestamp_ns: 1000
    events { metadata_id: 1 offset_ps: 0 duration_ps: 5000000
      stats { metadata_id: 1 str_value: "fusion.1" } stats { metadata_id: 2 str_value: "jit_f" } }
    events { metadata_id: 1 offset_ps: 1000000 duration_ps: 2000000
      stats { metadata_id: 1 str_value: "dot" } stats { metadata_id: 2 str_value: "jit_f" } }
    events { metadata_id: 1 offset_ps: 6000000 duration_ps: 1000000
      stats { metadata_id: 1 str_value: "dot" } stats { metadata_id: 2 str_value: "jit_f" } }
  }
  event_metadata { key: 1 value { id: 1 name: "sm90_gemm_kernel" } }
  stat_metadata { key: 1 value { id: 1 name: "hlo_op" } }
  stat_metadata { key: 2 value { id: 2 name: "hlo_module" } }
}
planes {
  id: 2 name: "/host:CPU"
  lines { id: 1 name: "python" timestamp_ns: 0
    events { metadata_id: 1 offset_ps: 0 duration_ps: 9000000 stats { metadata_id: 1 int64_value: 7 } }
    events { metadata_id: 1 offset_ps: 9000000 duration_ps: 4000000 stats { metadata_id: 1 int64_value: 8 } }
  }
  lines { id: 2 name: "thunks" timestamp_ns: 0
    events { metadata_id: 2 offset_ps: 0 duration_ps: 100000 stats { metadata_id: 2 str_value: "launch" } }
  }
  event_metadata { key: 1 value { id: 1 name: "train" } }
  event_metadata { key: 2 value { id: 2 name: "Thunk" } }
  stat_metadata { key: 1 value { id: 1 name: "step_num" } }
  stat_metadata { key: 2 value { id: 2 name: "hlo_op" } }
}
"""


def test_device_planes_win_and_nested_ops_count_once_in_self_time() -> None:
    ops, steps = parse_xplane(ProfileData.text_proto_to_serialized_xspace(GPU_STYLE))

    assert steps == [(7, 9000.0), (8, 4000.0)]
    rows = {o.name: o for o in ops}
    assert set(rows) == {"fusion.1", "dot"}  # the host-side 'launch' row is left out
    fusion, dot = rows["fusion.1"], rows["dot"]
    assert (fusion.calls, fusion.total_ns, fusion.self_ns) == (1, 5000.0, 3000.0)
    assert (dot.calls, dot.total_ns, dot.self_ns) == (2, 3000.0, 3000.0)
    assert dot.device_self_ns == 3000.0 and fusion.module == "jit_f"


XLA_OPS_LINE = """
planes {
  id: 1 name: "/device:GPU:0"
  lines { id: 1 name: "XLA Ops" timestamp_ns: 0
    events { metadata_id: 1 offset_ps: 0 duration_ps: 4000000
      stats { metadata_id: 1 str_value: "fusion.2" } stats { metadata_id: 2 str_value: "jit_g" } }
  }
  lines { id: 2 name: "Stream #7(Compute)" timestamp_ns: 0
    events { metadata_id: 2 offset_ps: 0 duration_ps: 1500000
      stats { metadata_id: 1 str_value: "fusion.2" } stats { metadata_id: 2 str_value: "jit_g" } }
    events { metadata_id: 2 offset_ps: 2000000 duration_ps: 1500000
      stats { metadata_id: 1 str_value: "fusion.2" } stats { metadata_id: 2 str_value: "jit_g" } }
  }
  event_metadata { key: 1 value { id: 1 name: "fusion.2" } }
  event_metadata { key: 2 value { id: 2 name: "loop_fusion_kernel" } }
  stat_metadata { key: 1 value { id: 1 name: "hlo_op" } }
  stat_metadata { key: 2 value { id: 2 name: "hlo_module" } }
}
"""


def test_a_derived_xla_ops_line_is_not_counted_twice_with_its_kernels() -> None:
    ops, _ = parse_xplane(ProfileData.text_proto_to_serialized_xspace(XLA_OPS_LINE))
    assert [(o.name, o.calls, o.total_ns) for o in ops] == [("fusion.2", 1, 4000.0)]


def test_bytes_that_are_not_a_capture_raise_value_error() -> None:
    with pytest.raises(ValueError, match="not an xplane capture"):
        parse_xplane(b"definitely not protobuf \xff\xff")
