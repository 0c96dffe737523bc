from posediff_jax.cli import run_program

run_program()
