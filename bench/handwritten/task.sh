#!/bin/bash
# The "migration" both sides run: takes TASK_SECONDS (default 1), then appends
# one line per run to MARKER (epoch ms, pid, attempt), so the bench counts the
# runs and sees which instances went on before the migration had finished.
sleep "${TASK_SECONDS:-1}"
echo "$(date +%s%3N) pid $$ attempt ${RUNONCE_ATTEMPT:-none}" >>"$MARKER"
