-- The `pidstream report` reports as ClickHouse SQL over the tables of clickhouse.sql, for the
-- same questions at the scale of a fleet. They match cli/query/reports.ts: a crash is an exit
-- classified CRASHED, signatures come from coredumps, windows are [since, until), series are
-- dense (every bucket of the window for every key shown, zero where nothing happened).
--
-- Parameters use ClickHouse's query-parameter syntax; with clickhouse-client, e.g.
--   clickhouse-client --param_since='2026-01-01 00:00:00' --param_until='2026-01-02 00:00:00' \
--     --param_limit=20 --param_bucket_seconds=3600 --queries-file reports.sql
-- Buckets start on multiples of their width since the epoch, as `pidstream report`'s do for
-- every width that divides a day.

-- top-crashes: crash signatures by count, with exe, hosts, first and last seen.
SELECT
    signature,
    min(exe) AS exe,
    count() AS crashes,
    uniqExact(host) AS hosts,
    min(time) AS first_seen,
    max(time) AS last_seen
FROM pidstream.coredumps
WHERE time >= {since:DateTime64(6, 'UTC')} AND time < {until:DateTime64(6, 'UTC')}
GROUP BY signature
ORDER BY crashes DESC, signature ASC NULLS LAST
LIMIT {limit:UInt32};

-- crash-rate: crashes per exe per bucket (replace exe with cgroup_unit or host for --by).
WITH crashed AS
(
    SELECT exe AS key, toStartOfInterval(time, toIntervalSecond({bucket_seconds:UInt32})) AS bucket
    FROM pidstream.exits
    WHERE classification = 'CRASHED'
      AND time >= {since:DateTime64(6, 'UTC')} AND time < {until:DateTime64(6, 'UTC')}
),
top_keys AS
(
    SELECT key, count() AS total FROM crashed GROUP BY key
    ORDER BY total DESC, key ASC NULLS LAST LIMIT {limit:UInt32}
)
SELECT bucket, key AS exe, count() AS crashes
FROM crashed
WHERE key IN (SELECT key FROM top_keys)
GROUP BY key, bucket
ORDER BY key ASC, bucket ASC WITH FILL
    FROM toStartOfInterval({since:DateTime64(6, 'UTC')}, toIntervalSecond({bucket_seconds:UInt32}))
    TO {until:DateTime64(6, 'UTC')}
    STEP toIntervalSecond({bucket_seconds:UInt32});

-- exit-mix: exit codes and signals per unit, with their share of the unit.
WITH mix AS
(
    SELECT
        cgroup_unit AS unit,
        multiIf(signal IS NOT NULL, coalesce(signal_name, concat('signal ', toString(signal))),
                exit_code IS NOT NULL, concat('exit ', toString(exit_code)),
                'unknown') AS status,
        classification
    FROM pidstream.exits
    WHERE time >= {since:DateTime64(6, 'UTC')} AND time < {until:DateTime64(6, 'UTC')}
),
units AS
(
    SELECT unit, count() AS total FROM mix GROUP BY unit
    ORDER BY total DESC, unit ASC NULLS LAST LIMIT {limit:UInt32}
)
SELECT m.unit, m.status, m.classification, count() AS exits, count() / any(u.total) AS share
FROM mix AS m
INNER JOIN units AS u ON m.unit <=> u.unit
GROUP BY m.unit, m.status, m.classification
ORDER BY any(u.total) DESC, m.unit ASC NULLS LAST, exits DESC, m.status ASC;

-- oom-kills: OOM kills per cgroup per hour.
WITH killed AS
(
    SELECT cgroup_path AS cgroup, toStartOfHour(time) AS hour
    FROM pidstream.exits
    WHERE classification = 'OOM_KILLED'
      AND time >= {since:DateTime64(6, 'UTC')} AND time < {until:DateTime64(6, 'UTC')}
),
top_cgroups AS
(
    SELECT cgroup, count() AS total FROM killed GROUP BY cgroup
    ORDER BY total DESC, cgroup ASC NULLS LAST LIMIT {limit:UInt32}
)
SELECT hour, cgroup, count() AS kills
FROM killed
WHERE cgroup IN (SELECT cgroup FROM top_cgroups)
GROUP BY cgroup, hour
ORDER BY cgroup ASC, hour ASC WITH FILL
    FROM toStartOfHour({since:DateTime64(6, 'UTC')})
    TO {until:DateTime64(6, 'UTC')}
    STEP toIntervalHour(1);

-- new-crashes: signatures whose first crash (over all history before `until`) is in the window.
WITH firsts AS
(
    SELECT signature, min(time) AS first_seen
    FROM pidstream.coredumps
    WHERE signature IS NOT NULL AND time < {until:DateTime64(6, 'UTC')}
    GROUP BY signature
)
SELECT
    c.signature,
    min(c.exe) AS exe,
    f.first_seen,
    max(c.time) AS last_seen,
    count() AS crashes,
    uniqExact(c.host) AS hosts
FROM pidstream.coredumps AS c
INNER JOIN firsts AS f ON c.signature = f.signature
WHERE f.first_seen >= {since:DateTime64(6, 'UTC')}
  AND c.time >= {since:DateTime64(6, 'UTC')} AND c.time < {until:DateTime64(6, 'UTC')}
GROUP BY c.signature, f.first_seen
ORDER BY f.first_seen ASC, c.signature ASC
LIMIT {limit:UInt32};
