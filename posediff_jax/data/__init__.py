"""Datasets: tfds builders (no TensorFlow), Human3.6M cameras, and the training input pipeline."""
