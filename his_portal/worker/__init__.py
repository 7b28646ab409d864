"""The signing workers: a durable job queue (huey) whose jobs sign a batch's records.

* :mod:`.queue` — the queue (SQLite file in the data dir by default, Redis when
  ``HIS_REDIS_URL`` is set) and its jobs: a batch's job per worker, each signing
  the batch's next record until none is left; every minute, queue again (one job
  per item) the items whose worker died holding them.
* ``python -m his_portal.worker`` — a consumer with ``HIS_SIGN_WORKERS`` worker
  processes; one per machine (a file lock in the data dir).
* :mod:`.supervisor` — the web app starts and restarts that consumer itself (a
  lifespan task), so ``make run`` and the production configuration need nothing else.
"""
