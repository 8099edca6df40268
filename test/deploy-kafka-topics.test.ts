import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { ConfigResourceTypes, Kafka, logLevel } from 'kafkajs';
import { describe, expect, it } from 'vitest';

import { packageRoot } from '../common/paths.js';
import { kafkaBootstrap } from './support/kafka.js';

const run = promisify(execFile);

/** The script runs Kafka's own tools; here from the jars the test broker runs on. */
async function createTopics(prefix: string): Promise<string> {
  const java = `java -XX:TieredStopAtLevel=1 -cp ${join(packageRoot(), '.cache/kafka/libs')}/*`;
  const { stdout } = await run('bash', [join(packageRoot(), 'deploy/kafka/create-topics.sh')], {
    env: {
      PATH: process.env.PATH ?? '',
      BOOTSTRAP: kafkaBootstrap(),
      // One broker here; production keeps the defaults of 3 replicas and 2 in sync.
      REPLICATION: '1',
      MIN_ISR: '1',
      TOPIC_PREFIX: prefix,
      KAFKA_TOPICS: `${java} org.apache.kafka.tools.TopicCommand`,
      KAFKA_CONFIGS: `${java} kafka.admin.ConfigCommand`,
    },
    timeout: 240_000,
  });
  return stdout;
}

describe('Kafka topic script', () => {
  it('creates the three topics with their partitions, retention and delete policy, and is re-runnable', async () => {
    const prefix = `deploy-${randomUUID().slice(0, 8)}`;
    const names = ['exits', 'coredumps', 'agent'].map((t) => `${prefix}.${t}`);
    expect(await createTopics(prefix)).toBe(names.map((n) => `created ${n}\n`).join(''));

    const admin = new Kafka({ brokers: [kafkaBootstrap()], logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    try {
      const { topics } = await admin.fetchTopicMetadata({ topics: names });
      // The broker answers in its own order: compare by topic name.
      const partitions = Object.fromEntries(topics.map((t) => [t.name, t.partitions.length]));
      expect(names.map((n) => partitions[n])).toEqual([24, 6, 3]);
      const configs = await admin.describeConfigs({
        includeSynonyms: false,
        resources: names.map((name) => ({ type: ConfigResourceTypes.TOPIC, name })),
      });
      const wanted = ['cleanup.policy', 'retention.ms', 'max.message.bytes', 'min.insync.replicas'];
      const byName = new Map(configs.resources.map((r) => [r.resourceName, r.configEntries]));
      const settings = names.map((name) =>
        Object.fromEntries(
          (byName.get(name) ?? [])
            .filter((e) => wanted.includes(e.configName))
            .map((e) => [e.configName, e.configValue]),
        ),
      );
      expect(settings).toEqual([
        {
          'cleanup.policy': 'delete',
          'retention.ms': '604800000',
          'max.message.bytes': '1048576',
          'min.insync.replicas': '1',
        },
        {
          'cleanup.policy': 'delete',
          'retention.ms': '7776000000',
          'max.message.bytes': '4194304',
          'min.insync.replicas': '1',
        },
        {
          'cleanup.policy': 'delete',
          'retention.ms': '2592000000',
          'max.message.bytes': '1048576',
          'min.insync.replicas': '1',
        },
      ]);
      expect(await createTopics(prefix)).toBe(names.map((n) => `updated ${n}\n`).join(''));
    } finally {
      await admin.deleteTopics({ topics: names });
      await admin.disconnect();
    }
  }, 600_000);
});
