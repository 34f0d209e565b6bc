import { type BackendFactory, BackendFactoryId, ConfigError } from '@runonce/core';
import { ContainerModule } from 'inversify';
import { S3Backend, type S3BackendJsonOptions } from './backend.js';

/** Core's plugin contract: the identifier every backend package binds its factory under. */
export { type BackendFactory, BackendFactoryId } from '@runonce/core';

/**
 * What the CLI hands the factory: its resolved options (flag > environment > config file > default).
 * `s3Bucket` is `--s3-bucket` / `RUNONCE_S3_BUCKET`, `s3Prefix` is `--s3-prefix` / `RUNONCE_S3_PREFIX`;
 * a config file may add an `s3` object with the other JSON options. Region, credentials and endpoint
 * otherwise come from the SDK's chain (`AWS_REGION`, roles, `AWS_ENDPOINT_URL_S3`).
 */
export interface S3FactoryConfig {
  readonly s3Bucket?: string | undefined;
  readonly s3Prefix?: string | undefined;
  readonly s3?: Partial<S3BackendJsonOptions> | undefined;
}

export const createS3BackendFromConfig: BackendFactory<S3FactoryConfig> = (config) => {
  const bucket = config.s3Bucket ?? config.s3?.bucket;
  if (!bucket) throw new ConfigError('the S3 backend needs a bucket: --s3-bucket or RUNONCE_S3_BUCKET');
  return new S3Backend({ ...config.s3, bucket, prefix: config.s3Prefix ?? config.s3?.prefix });
};

/** Binds the S3 backend's factory under `Symbol.for('runonce.BackendFactory')`. */
export const s3BackendModule = new ContainerModule(({ bind }) => {
  bind<BackendFactory<S3FactoryConfig>>(BackendFactoryId).toConstantValue(createS3BackendFromConfig);
});
