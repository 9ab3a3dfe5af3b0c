"""Several devices and processes: tf.distribute strategies, TF_CONFIG and SLURM (distribute.py), and
`eagerrun launch`, which starts and owns local workers (launch.py). Imports neither autolog nor train."""
