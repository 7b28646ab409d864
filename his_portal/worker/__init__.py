"""The signing workers: a durable job queue (huey) whose jobs sign one record each.

* :mod:`.queue` — the queue (SQLite file in the data dir by default, Redis when
  ``HIS_REDIS_URL`` is set) and its jobs: sign one batch item; every minute, queue
  again the items whose worker died holding them.
* ``python -m his_portal.worker`` — a consumer with ``HIS_SIGN_WORKERS`` worker
  processes; one per machine (a file lock in the data dir).
* :mod:`.supervisor` — the web app starts and restarts that consumer itself (a
  lifespan task), so ``make run`` and the production configuration need nothing else.
"""
