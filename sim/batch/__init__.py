"""Many runs at once: the numpy lockstep path, the local and Dask runners, sweeps over field paths
and the distributions they sample."""
