-- pidstream events as ksqlDB streams over the agent's Kafka topics, for continuous queries
-- (alerts on a crash loop, a live crash rate per unit). Values are Avro in the Confluent wire
-- format, their schemas in the registry ksqlDB is configured with.
--
-- Columns are declared explicitly, with back-quoted names so they keep the schemas' lower-case
-- field names. Timestamps are microseconds since the epoch (Avro timestamp-micros), kept as
-- BIGINT because ksqlDB's TIMESTAMP holds milliseconds; enums arrive as STRING, uuids as STRING.
-- test/analytics-ddl.test.ts fails when a schema field has no column here.
--
--   ksql http://ksqldb:8088 --file deploy/analytics/ksqldb.sql

-- ProcessExit events.
CREATE STREAM IF NOT EXISTS pidstream_exits (
  `agent` STRUCT<`host` STRING, `boot_id` STRING, `instance_id` STRING, `seq` BIGINT, `prev_digest` BYTES>,
  `time` BIGINT,
  `process` STRUCT<`boot_id` STRING, `pidfs_ino` BIGINT, `pid` INT, `start_time` BIGINT>,
  `ppid` INT,
  `comm` STRING,
  `exe` STRING,
  `argv` ARRAY<STRING>,
  `argv_truncated` BOOLEAN,
  `credentials` STRUCT<`ruid` INT, `rgid` INT, `euid` INT, `egid` INT, `suid` INT, `sgid` INT, `fsuid` INT, `fsgid` INT>,
  `user` STRING,
  `wait_status` INT,
  `exit_code` INT,
  `signal` INT,
  `signal_name` STRING,
  `core_dumped` BOOLEAN,
  `classification` STRING,
  `coredump_mask` INT,
  `lifetime_us` BIGINT,
  `cgroup` STRUCT<`id` BIGINT, `path` STRING, `unit` STRING, `slice` STRING, `container_id` STRING, `pod_uid` STRING>,
  `source` STRING,
  `discovery` STRING,
  `unreaped` BOOLEAN,
  `coredump_seq` BIGINT
) WITH (
  KAFKA_TOPIC = 'pidstream.exits',
  KEY_FORMAT = 'KAFKA',
  VALUE_FORMAT = 'AVRO',
  VALUE_AVRO_SCHEMA_FULL_NAME = 'io.pidstream.ProcessExit'
);

-- Coredump events.
CREATE STREAM IF NOT EXISTS pidstream_coredumps (
  `agent` STRUCT<`host` STRING, `boot_id` STRING, `instance_id` STRING, `seq` BIGINT, `prev_digest` BYTES>,
  `time` BIGINT,
  `process` STRUCT<`boot_id` STRING, `pidfs_ino` BIGINT, `pid` INT, `start_time` BIGINT>,
  `ppid` INT,
  `comm` STRING,
  `exe` STRING,
  `argv` ARRAY<STRING>,
  `argv_truncated` BOOLEAN,
  `credentials` STRUCT<`ruid` INT, `rgid` INT, `euid` INT, `egid` INT, `suid` INT, `sgid` INT, `fsuid` INT, `fsgid` INT>,
  `user` STRING,
  `cgroup` STRUCT<`id` BIGINT, `path` STRING, `unit` STRING, `slice` STRING, `container_id` STRING, `pod_uid` STRING>,
  `signal` INT,
  `signal_name` STRING,
  `si_code` INT,
  `fault_address` BIGINT,
  `thread_count` INT,
  `crashing_tid` INT,
  `coredump_mask` INT,
  `verdict` STRING,
  `verdict_reason` STRING,
  `blocked_us` BIGINT,
  `cwd` STRING,
  `core_rlimit` BIGINT,
  `root_mount` STRUCT<`mnt_ns_id` BIGINT, `mnt_id` BIGINT, `fs_type` STRING, `mnt_root` STRING, `device` STRING>,
  `core_size` BIGINT,
  `truncated` BOOLEAN,
  `stored` STRUCT<`path` STRING, `stored_size` BIGINT, `sha256` STRING, `sensitive` BOOLEAN>,
  `modules` ARRAY<STRUCT<`path` STRING, `start` BIGINT, `end` BIGINT, `build_id` STRING, `package` STRING>>,
  `backtrace` ARRAY<STRUCT<`module` STRING, `build_id` STRING, `offset` BIGINT, `method` STRING>>,
  `signature` STRING,
  `analysis_error` STRING
) WITH (
  KAFKA_TOPIC = 'pidstream.coredumps',
  KEY_FORMAT = 'KAFKA',
  VALUE_FORMAT = 'AVRO',
  VALUE_AVRO_SCHEMA_FULL_NAME = 'io.pidstream.Coredump'
);

-- AgentEvent events.
CREATE STREAM IF NOT EXISTS pidstream_agent_events (
  `agent` STRUCT<`host` STRING, `boot_id` STRING, `instance_id` STRING, `seq` BIGINT, `prev_digest` BYTES>,
  `time` BIGINT,
  `kind` STRING,
  `loss_kind` STRING,
  `count` BIGINT,
  `message` STRING,
  `attributes` MAP<STRING, STRING>
) WITH (
  KAFKA_TOPIC = 'pidstream.agent',
  KEY_FORMAT = 'KAFKA',
  VALUE_FORMAT = 'AVRO',
  VALUE_AVRO_SCHEMA_FULL_NAME = 'io.pidstream.AgentEvent'
);
