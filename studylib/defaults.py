"""What a study takes when it is not told: one place for the CLI's flags and help, the notebooks'
runner, the API's keywords, the reports' folder names and the executors."""

STRATEGY = "random"
DATASET = "digits"  # offline: scikit-learn ships it
PROFILE = "smoke"
SEED = 0

FAILED_IN_A_ROW = 10  # a budgeted study without --max-failures stops after this many failures in a row
MAX_RETRIES = 2  # runs of a trial whose process or Dask worker died
MAX_WORKER_MEMORY = 4096  # MiB of a trial process before it is replaced; see benchmarks/worker_memory.py
