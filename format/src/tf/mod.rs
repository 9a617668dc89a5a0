//! TensorFlow tensor bundles (`tf.train.Saver` checkpoints): reader and writer.
