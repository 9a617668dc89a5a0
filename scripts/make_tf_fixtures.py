#!/usr/bin/env python3
"""Build the TensorFlow checkpoint fixtures under format/tests/fixtures/tf/ with real
TensorFlow, and check bundles written by varscope with real TensorFlow.

Needs TensorFlow (any 1.15 or 2.x; the committed fixtures were made with 2.21 on CPU):

    python3 -m venv /tmp/tfvenv && /tmp/tfvenv/bin/pip install tensorflow-cpu numpy
    /tmp/tfvenv/bin/python scripts/make_tf_fixtures.py build [OUT_DIR]
    /tmp/tfvenv/bin/python scripts/make_tf_fixtures.py check PREFIX EXPECTED_JSON
    /tmp/tfvenv/bin/python scripts/make_tf_fixtures.py continue PREFIX NEXT_STEP_JSON

`cargo test` never runs TensorFlow: the tests read the committed bundles and compare with
the values this script dumps next to them.

Fixtures (each a directory with a `checkpoint` state file unless noted):
  mlp_adam/      MLP under model/mlp/layer{1,2}/{kernel,bias}, 5 AdamOptimizer steps
                 (slots <var>/Adam, <var>/Adam_1, beta1_power, beta2_power, global_step)
  mlp_momentum/, mlp_adagrad/, mlp_rmsprop/   the same MLP with those optimizers
                 Each has expected.json (every tensor of the checkpoint) and next_step.json
                 (the gradients of the 6th step, fed through placeholders, and every
                 variable after TensorFlow applied them).
  partitioned/   fixed_size_partitioner variables (axis 0 and axis 1) and a plain one
  sharded/       Saver(sharded=True) over two CPU devices: two data files, a partitioned
                 variable whose slices live in different shards
  dtypes/        SaveV2 of every dtype a variable checkpoint holds, plus a string tensor
  many/          4200 int8 scalars with long names: the index spans several blocks
                 (values: tensor i holds i % 128; not dumped)

Values are dumped as {"name": {"dtype": ..., "shape": [...], "hex": raw little-endian}}.

`check` mode (run by hand; see the report of issue 12 for what was checked) loads a
varscope-written bundle with tf.train.load_checkpoint, compares every tensor with
EXPECTED_JSON bit for bit, and restores each partitioned entry with
tf.compat.v1.train.Saver into variables of another partitioning (and the whole ones into
partitioned variables).

`continue` mode restores, with tf.compat.v1.train.Saver, the bundle varscope saved after
restoring mlp_adam and taking TensorFlow's step-6 gradients (the ignored test
`export_for_tensorflow` in gpu/tests/tf_checkpoint.rs writes it), compares every variable
with TensorFlow's own step 6, and takes step 7 in TensorFlow.

Checked by hand for issue 12 (TensorFlow 2.21.0, CPU, Python 3.11):
  check: format/examples/tf_write_sample.rs output: load_checkpoint reads all 31 tensors
    (13 dtypes, the Adam MLP, a 2-slice partitioned variable) bit-identically; Saver
    restores 15 float variables into other partitionings (fixed_size_partitioner 2 or 3,
    including the 2-slice varscope tensor into 2 different slices) bit-identically.
  continue: TensorFlow restores the bundle with Saver; every variable, slot, beta power
    and global_step equals TensorFlow's own step 6 exactly (0 difference), and it trains
    on to global_step 7.
Checked by hand with TensorFlow 1.15.5 (CPU, Python 3.7.16 from pyenv, numpy 1.18.5,
`pip install tensorflow==1.15.5 "protobuf<3.21" "numpy<1.19"`):
  check: the same sample bundle: load_checkpoint reads all 31 tensors bit-identically
    (uint32, uint64 and bfloat16 included), Saver restores the 15 float variables into
    other partitionings bit-identically; so do bundles `varscope convert` wrote from the
    partitioned, sharded and mlp_adam fixtures (through safetensors).
  continue: as with 2.21 (0 difference from TensorFlow 2.21's step 6; 1.15 trains on to
    global_step 7).
  build: TensorFlow 1.15.5 writes the dtypes, many, partitioned and sharded fixtures byte
    for byte as 2.21 did (index and data files); its mlp_* bundles differ only in values,
    and `varscope inspect --verify` reads all of them. Against 1.15's own Adam step 6
    (recomputed from its mlp_adam fixture in float32 with varscope's operation order),
    slots and beta powers are exact and one kernel element is 1 ulp off: TensorFlow
    1.15's Eigen computes the AVX `sqrt` from an approximate reciprocal square root.
The bundles varscope writes declare version {producer: 1, min_consumer: 0}, i.e.
kTensorBundleVersion 1 (unchanged since 2016) and no minimum consumer, little-endian, one
shard: every TensorFlow since 1.0 passes its CheckVersions.
"""

import json
import os
import shutil
import sys

import numpy as np
import tensorflow as tf

tf1 = tf.compat.v1


def record(value):
    value = np.asarray(value)
    return {
        "dtype": tf.as_dtype(value.dtype).name,
        "shape": list(value.shape),
        "hex": value.astype(value.dtype.newbyteorder("<")).tobytes().hex(),
    }


def dump_reader(prefix, path):
    reader = tf.train.load_checkpoint(prefix)
    out = {}
    for name in sorted(reader.get_variable_to_shape_map()):
        dtype = reader.get_variable_to_dtype_map()[name]
        if dtype == tf.string:
            continue
        out[name] = record(reader.get_tensor(name))
    with open(path, "w") as f:
        json.dump(out, f, indent=0, sort_keys=True)


def fresh(path):
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)


MLP_RNG_SEED = 7


def build_mlp(make_optimizer):
    """The fixture MLP in the current graph: (variables, gradients, feeds, train op, opt)."""
    rng = np.random.RandomState(MLP_RNG_SEED)
    x = rng.uniform(-1, 1, size=(8, 4)).astype(np.float32)
    y = rng.uniform(-1, 1, size=(8, 2)).astype(np.float32)
    with tf1.variable_scope("model"):
        with tf1.variable_scope("mlp"):
            with tf1.variable_scope("layer1"):
                w1 = tf1.get_variable("kernel", [4, 8], initializer=tf1.glorot_uniform_initializer(seed=1))
                b1 = tf1.get_variable("bias", [8], initializer=tf1.random_normal_initializer(stddev=0.1, seed=2))
                h = tf.tanh(tf.matmul(tf.constant(x), w1) + b1)
            with tf1.variable_scope("layer2"):
                w2 = tf1.get_variable("kernel", [8, 2], initializer=tf1.glorot_uniform_initializer(seed=3))
                b2 = tf1.get_variable("bias", [2], initializer=tf1.random_normal_initializer(stddev=0.1, seed=4))
                pred = tf.matmul(h, w2) + b2
    loss = tf.reduce_mean(tf.square(pred - tf.constant(y)))
    variables = [w1, b1, w2, b2]
    grads = tf.gradients(loss, variables)
    feeds = [tf1.placeholder(tf.float32, v.shape) for v in variables]
    global_step = tf1.train.get_or_create_global_step()
    opt = make_optimizer()
    train = opt.apply_gradients(list(zip(feeds, variables)), global_step=global_step)
    return variables, grads, feeds, train, opt


def mlp(out, optimizer_name, make_optimizer, steps=5):
    """The MLP trained `steps` steps, saved, then one more step recorded."""
    d = os.path.join(out, optimizer_name)
    fresh(d)
    g = tf.Graph()
    with g.as_default():
        variables, grads, feeds, train, opt = build_mlp(make_optimizer)
        saver = tf1.train.Saver(save_relative_paths=True)
        with tf1.Session() as sess:
            sess.run(tf1.global_variables_initializer())
            for _ in range(steps):
                gv = sess.run(grads)
                sess.run(train, dict(zip(feeds, gv)))
            saver.save(sess, os.path.join(d, "model.ckpt"), global_step=steps, write_meta_graph=False)
            gv = sess.run(grads)
            sess.run(train, dict(zip(feeds, gv)))
            after = {v.op.name: record(sess.run(v)) for v in tf1.global_variables()}
        names = [v.op.name for v in variables]
    dump_reader(os.path.join(d, "model.ckpt-%d" % steps), os.path.join(d, "expected.json"))
    hyper = {k: float(v) if not isinstance(v, bool) else v for k, v in opt_hyper(opt).items()}
    with open(os.path.join(d, "next_step.json"), "w") as f:
        json.dump(
            {
                "optimizer": optimizer_name,
                "hyper": hyper,
                "gradients": {n: record(gr) for n, gr in zip(names, gv)},
                "after": after,
            },
            f,
            indent=0,
            sort_keys=True,
        )


def continue_in_tf(prefix, next_step_path):
    """Restores a bundle varscope saved after continuing the mlp_adam fixture one step
    (gpu/tests/tf_checkpoint.rs, export_for_tensorflow) into the same TensorFlow graph,
    checks it equals TensorFlow's own step 6, and trains on from it."""
    tf1.disable_v2_behavior()
    with open(next_step_path) as f:
        after = json.load(f)["after"]
    g = tf.Graph()
    with g.as_default():
        variables, grads, feeds, train, _ = build_mlp(lambda: tf1.train.AdamOptimizer(0.01))
        saver = tf1.train.Saver()
        with tf1.Session() as sess:
            saver.restore(sess, prefix)
            worst = 0.0
            for v in tf1.global_variables():
                got = np.asarray(sess.run(v))
                want = np.frombuffer(bytes.fromhex(after[v.op.name]["hex"]), dtype=got.dtype).reshape(got.shape)
                diff = float(np.max(np.abs(got.astype(np.float64) - want.astype(np.float64)), initial=0.0))
                assert diff <= 1e-6, (v.op.name, diff)
                worst = max(worst, diff)
            gv = sess.run(grads)
            sess.run(train, dict(zip(feeds, gv)))
            step = sess.run(tf1.train.get_global_step())
            assert step == 7, step
    print("Saver.restore of the varscope-trained bundle: every variable within %.2g of TensorFlow's step 6; "
          "TensorFlow trained on to global_step %d" % (worst, step))


def opt_hyper(opt):
    keys = ["_lr", "_beta1", "_beta2", "_epsilon", "_learning_rate", "_momentum", "_decay",
            "_initial_accumulator_value", "_use_nesterov", "_centered"]
    return {k.lstrip("_"): getattr(opt, k) for k in keys if isinstance(getattr(opt, k, None), (int, float))}


def partitioned(out):
    d = os.path.join(out, "partitioned")
    fresh(d)
    g = tf.Graph()
    with g.as_default():
        with tf1.variable_scope("part"):
            emb = tf1.get_variable("emb", [10, 3], initializer=tf1.random_normal_initializer(seed=5),
                                   partitioner=tf1.fixed_size_partitioner(3))
            wide = tf1.get_variable("wide", [4, 6], initializer=tf1.random_normal_initializer(seed=6),
                                    partitioner=tf1.fixed_size_partitioner(2, axis=1))
            plain = tf1.get_variable("plain", [5], initializer=tf1.random_normal_initializer(seed=7))
        saver = tf1.train.Saver(save_relative_paths=True)
        with tf1.Session() as sess:
            sess.run(tf1.global_variables_initializer())
            saver.save(sess, os.path.join(d, "model.ckpt"), write_meta_graph=False)
            full = {
                "part/emb": record(sess.run(tf.concat(list(emb), axis=0))),
                "part/wide": record(sess.run(tf.concat(list(wide), axis=1))),
                "part/plain": record(sess.run(plain)),
            }
    with open(os.path.join(d, "expected.json"), "w") as f:
        json.dump(full, f, indent=0, sort_keys=True)


def sharded(out):
    d = os.path.join(out, "sharded")
    fresh(d)
    g = tf.Graph()

    def device(op):
        return "/cpu:1" if ("part_1" in op.name or "/b" in op.name) else "/cpu:0"

    with g.as_default():
        with g.device(device):
            with tf1.variable_scope("s"):
                a = tf1.get_variable("a", [3], initializer=tf1.random_normal_initializer(seed=8))
                b = tf1.get_variable("b", [2, 2], initializer=tf1.random_normal_initializer(seed=9))
                p = tf1.get_variable("p", [6, 2], initializer=tf1.random_normal_initializer(seed=10),
                                     partitioner=tf1.fixed_size_partitioner(2))
        saver = tf1.train.Saver(sharded=True, save_relative_paths=True)
        config = tf1.ConfigProto(device_count={"CPU": 2})
        with tf1.Session(config=config) as sess:
            sess.run(tf1.global_variables_initializer())
            saver.save(sess, os.path.join(d, "model.ckpt"), write_meta_graph=False)
            full = {
                "s/a": record(sess.run(a)),
                "s/b": record(sess.run(b)),
                "s/p": record(sess.run(tf.concat(list(p), axis=0))),
            }
    with open(os.path.join(d, "expected.json"), "w") as f:
        json.dump(full, f, indent=0, sort_keys=True)


def dtype_values():
    f = np.array([0.0, -0.0, 1.5, -2.25, np.inf, -np.inf, np.nan, 1e-8, 65504.0, 3.0e38])
    vals = {
        "dtypes/float16": f.astype(np.float16).reshape(2, 5),
        "dtypes/float32": np.append(f, [1.4e-45]).astype(np.float32),
        "dtypes/float64": np.append(f, [5e-324, 1.0 / 3.0]).astype(np.float64),
        "dtypes/bfloat16": f.astype(tf.bfloat16.as_numpy_dtype),
        "dtypes/int8": np.array([-128, -1, 0, 1, 127], dtype=np.int8),
        "dtypes/int16": np.array([[-32768, -1], [0, 32767]], dtype=np.int16),
        "dtypes/int32": np.array([-2**31, -1, 0, 7, 2**31 - 1], dtype=np.int32),
        "dtypes/int64": np.array([-2**63, -1, 0, 2**40 + 3, 2**63 - 1], dtype=np.int64),
        "dtypes/uint8": np.array([0, 1, 128, 255], dtype=np.uint8),
        "dtypes/uint16": np.array([0, 1, 65535], dtype=np.uint16),
        "dtypes/uint32": np.array([0, 1, 2**32 - 1], dtype=np.uint32),
        "dtypes/uint64": np.array([0, 1, 2**64 - 1], dtype=np.uint64),
        "dtypes/bool": np.array([[True, False, True], [False, False, True]]),
        "dtypes/scalar_f32": np.float32(0.1),
        "dtypes/empty_f32": np.zeros((0, 3), dtype=np.float32),
    }
    return vals


def dtypes(out):
    d = os.path.join(out, "dtypes")
    fresh(d)
    vals = dtype_values()
    g = tf.Graph()
    with g.as_default():
        names = sorted(vals) + ["dtypes/string"]
        tensors = [tf.constant(vals[n]) for n in sorted(vals)] + [tf.constant([b"abc", b"", b"\x00\xff"])]
        save = tf.raw_ops.SaveV2(prefix=os.path.join(d, "model.ckpt"), tensor_names=names,
                                 shape_and_slices=[""] * len(names), tensors=tensors)
        with tf1.Session() as sess:
            sess.run(save)
    with open(os.path.join(d, "checkpoint"), "w") as f:
        f.write('model_checkpoint_path: "model.ckpt"\nall_model_checkpoint_paths: "model.ckpt"\n')
    with open(os.path.join(d, "expected.json"), "w") as f:
        json.dump({n: record(v) for n, v in vals.items()}, f, indent=0, sort_keys=True)


def many(out, count=4200):
    d = os.path.join(out, "many")
    fresh(d)
    g = tf.Graph()
    with g.as_default():
        names = ["many/scope_%05d/%s/v" % (i, "long_variable_name_" * 7) for i in range(count)]
        tensors = [tf.constant(np.int8(i % 128)) for i in range(count)]
        save = tf.raw_ops.SaveV2(prefix=os.path.join(d, "model.ckpt"), tensor_names=names,
                                 shape_and_slices=[""] * count, tensors=tensors)
        with tf1.Session() as sess:
            sess.run(save)


def build(out):
    tf1.disable_v2_behavior()
    os.makedirs(out, exist_ok=True)
    mlp(out, "mlp_adam", lambda: tf1.train.AdamOptimizer(0.01))
    mlp(out, "mlp_momentum", lambda: tf1.train.MomentumOptimizer(0.1, 0.9))
    mlp(out, "mlp_adagrad", lambda: tf1.train.AdagradOptimizer(0.1))
    mlp(out, "mlp_rmsprop", lambda: tf1.train.RMSPropOptimizer(0.01))
    partitioned(out)
    sharded(out)
    dtypes(out)
    many(out)
    with open(os.path.join(out, "VERSION"), "w") as f:
        f.write("made by scripts/make_tf_fixtures.py with TensorFlow %s, numpy %s\n" % (tf.__version__, np.__version__))


def check(prefix, expected_path):
    """Loads a varscope-written bundle in TensorFlow and restores it with a Saver."""
    tf1.disable_v2_behavior()
    with open(expected_path) as f:
        expected = json.load(f)
    reader = tf.train.load_checkpoint(prefix)
    shapes = reader.get_variable_to_shape_map()
    dtypes_ = reader.get_variable_to_dtype_map()
    assert sorted(shapes) == sorted(expected), (sorted(shapes), sorted(expected))
    for name, want in expected.items():
        got = record(reader.get_tensor(name))
        assert got == want, (name, got, want)
        assert dtypes_[name].name == want["dtype"], name
    print("load_checkpoint: %d tensors bit-identical" % len(expected))
    # Saver restore: every float tensor into a variable of another partitioning.
    g = tf.Graph()
    with g.as_default():
        restored = {}
        for name, want in expected.items():
            shape = want["shape"]
            dtype = tf.as_dtype(want["dtype"])
            # (RestoreV2 of a slice supports float32/float64 here; TF 2.21 refuses half.)
            if dtype not in (tf.float32, tf.float64) or len(shape) == 0 or shape[0] < 2:
                continue
            parts = 2 if shape[0] % 2 == 0 else 3 if shape[0] >= 3 else 1
            v = tf1.get_variable(name, shape, dtype=dtype, partitioner=tf1.fixed_size_partitioner(parts))
            restored[name] = tf.concat(list(v), axis=0)
        saver = tf1.train.Saver(tf1.global_variables())
        with tf1.Session() as sess:
            saver.restore(sess, prefix)
            for name, t in restored.items():
                got = record(sess.run(t))
                assert got == expected[name], name
    print("Saver.restore into other partitionings: %d variables bit-identical (%s)" % (len(restored), ", ".join(sorted(restored))))


if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))
    if len(sys.argv) >= 2 and sys.argv[1] == "build":
        build(sys.argv[2] if len(sys.argv) > 2 else os.path.join(here, "..", "format", "tests", "fixtures", "tf"))
    elif len(sys.argv) == 4 and sys.argv[1] == "check":
        check(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 4 and sys.argv[1] == "continue":
        continue_in_tf(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
