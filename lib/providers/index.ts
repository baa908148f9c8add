export * from './connection';
export * from './kinds';
export * from './settings';
export * from './budget';
export * from './adapter';
