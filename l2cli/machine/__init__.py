"""The machine a run trains on: its BLAS threads and the numerical environment that decides the last bits."""
