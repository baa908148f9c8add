import helper from 'node-red-node-test-helper';

helper.init(require.resolve('node-red'));

export { helper };

/** The compiled node modules, as Node-RED loads them. */
export function nodeModule(type: string): unknown {
  return require(`../../nodes/${type}/${type}.js`);
}
