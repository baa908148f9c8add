export * from './backoff';
export * from './client';
export * from './errors';
export * from './limiters';
export * from './retry-policy';
export { sleep, WaitQueue } from './wait-queue';
