import { type BackendFactory, BackendFactoryId } from '@runonce/core';
import { ContainerModule } from 'inversify';
import { DEFAULT_SSM_PREFIX, SsmBackend, type SsmBackendJsonOptions } from './backend.js';

/**
 * How the CLI finds this backend (core's plugin contract):
 *
 *   const container = new Container();
 *   container.load(ssmBackendModule);
 *   const factory = container.get<BackendFactory>(BackendFactoryId);
 *   const backend = factory({ ssmPrefix: '/runonce' });
 *
 * Every backend package binds its factory under the same identifier,
 * `Symbol.for('runonce.BackendFactory')`, so the CLI needs no per-backend code
 * and a third-party backend works the same way.
 */
export { type BackendFactory, BackendFactoryId } from '@runonce/core';

/**
 * What the CLI hands the factory: its resolved options (flag > environment >
 * config file > default). `ssmPrefix` is `--ssm-prefix` / `RUNONCE_SSM_PREFIX`;
 * a config file may add an `ssm` object with the other JSON options (region,
 * endpoint, timeouts). Region, credentials and endpoint otherwise come from
 * the SDK's chain (`AWS_REGION`, profiles, roles, `AWS_ENDPOINT_URL_SSM`).
 */
export interface SsmFactoryConfig {
  readonly ssmPrefix?: string | undefined;
  readonly prefix?: string | undefined;
  readonly ssm?: SsmBackendJsonOptions | undefined;
}

export const SsmBackendFactory: BackendFactory<SsmFactoryConfig> = (config = {}) =>
  new SsmBackend({
    ...config.ssm,
    prefix: config.ssmPrefix ?? config.prefix ?? config.ssm?.prefix ?? DEFAULT_SSM_PREFIX,
  });

/** Binds the SSM backend's factory under `Symbol.for('runonce.BackendFactory')`. */
export const ssmBackendModule = new ContainerModule(({ bind }) => {
  bind<BackendFactory<SsmFactoryConfig>>(BackendFactoryId).toConstantValue(SsmBackendFactory);
});
