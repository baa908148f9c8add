import type { Node } from 'node-red';
import type { z } from 'zod';
import { InvalidRequestError, describeIssues } from '../../lib/contract';
import { editorSchemaOf, editorSchemaSettingName } from '../../lib/editor/node-settings';

/**
 * Reads a node's settings with the schema its editor validates with. Settings the runtime cannot
 * use are reported at deploy; the node stays deployed and each message (or resumed job) fails
 * through Catch, saying which setting to fix, until they are.
 */
export function settingsOf<T extends z.ZodType>(node: Node, schema: T, def: unknown): { value?: z.output<T>; read: () => z.output<T> } {
  const parsed = schema.safeParse(def);
  if (parsed.success) return { value: parsed.data, read: () => parsed.data };
  const problem = `${node.type}'s settings cannot be used: ${describeIssues(parsed.error)}; open the node and set them again`;
  node.error(problem);
  return {
    read: () => {
      throw new InvalidRequestError(problem);
    },
  };
}

/** registerType's `settings` option exporting a node type's settings schema to its editor. */
export function editorSettingsFor(nodeType: string, schema: z.ZodType): Record<string, { value: unknown; exportable: true }> {
  return { [editorSchemaSettingName(nodeType)]: { value: editorSchemaOf(schema), exportable: true } };
}
