import { Client, Connection } from '@temporalio/client';
import proto from '@temporalio/proto';
import { NativeConnection } from '@temporalio/worker';
import type { Config } from '../config.js';
import { SEARCH_ATTRIBUTES } from '../domain/search-attributes.js';

type TemporalConfig = Config['temporal'];

function connectionOptions(config: TemporalConfig) {
  return {
    address: config.address,
    tls: config.tls ? {} : undefined,
    apiKey: config.apiKey?.reveal(),
  };
}

/**
 * A Temporal client. `lazy` connects on first use: the API then starts while Temporal is still down
 * and reports it in /readyz (503) instead of failing to start.
 */
export async function connectClient(
  config: TemporalConfig,
  options: { lazy?: boolean } = {},
): Promise<Client> {
  const connection = options.lazy
    ? Connection.lazy({ ...connectionOptions(config), connectTimeout: '5 seconds' })
    : await Connection.connect(connectionOptions(config));
  return new Client({ connection, namespace: config.namespace });
}

export function connectWorker(config: TemporalConfig): Promise<NativeConnection> {
  return NativeConnection.connect(connectionOptions(config));
}

/**
 * Registers the custom search attributes in the namespace; attributes already present are left alone,
 * so this is safe to run on every start. (On Temporal Cloud, register them with `tcld` instead.)
 */
export async function ensureSearchAttributes(client: Client): Promise<string[]> {
  const { operatorService } = client.connection;
  const { customAttributes } = await operatorService.listSearchAttributes({
    namespace: client.options.namespace,
  });
  const missing = SEARCH_ATTRIBUTES.filter((key) => !(key.name in (customAttributes ?? {})));
  if (missing.length > 0) {
    await operatorService.addSearchAttributes({
      namespace: client.options.namespace,
      searchAttributes: Object.fromEntries(
        missing.map((key) => [
          key.name,
          proto.temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
        ]),
      ),
    });
  }
  return missing.map((key) => key.name);
}

/** A bounded round trip to the Temporal frontend, for readiness checks. */
export async function pingTemporal(client: Client, timeoutMs = 2_000): Promise<void> {
  await client.connection.withDeadline(Date.now() + timeoutMs, () =>
    client.workflowService.getSystemInfo({}),
  );
}
