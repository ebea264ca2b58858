export * from './stateful-node-group';
export * from './node-sets';
export * from './berth-function';
export * from './defaults';
export * from './document-content';
export * from './event-patterns';
export * from './agent-config';
export * from './lambda-bundling';
